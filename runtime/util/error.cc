#include "runtime/util/error.h"
