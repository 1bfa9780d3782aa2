// What a generated model's lmc_open_<name> calls: the C API's handle around a
// new instance of the model, with its weights loaded.
#pragma once

#include <memory>

#include "lmc/lmc.h"
#include "runtime/model/model.h"

namespace lmc::api {

lmc_model* Open(std::unique_ptr<rt::Model> (*create)(), const char* weights_path,
                const lmc_open_options* options, lmc_error** error) noexcept;

}  // namespace lmc::api
