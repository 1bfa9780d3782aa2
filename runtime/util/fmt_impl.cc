// fmt's compiled part, built once into the runtime. Model binaries link statically and Debian
// ships libfmt only as a shared library; compiling fmt header-only instead would add seconds to
// every model's build. Outside header-only mode, format-inl.h defines fmt's out-of-line
// functions; the templates below are the ones fmt's headers use but leave to this library.
#include <fmt/format-inl.h>

FMT_BEGIN_NAMESPACE
namespace detail {

template FMT_API auto dragonbox::to_decimal(float x) noexcept -> dragonbox::decimal_fp<float>;
template FMT_API auto dragonbox::to_decimal(double x) noexcept -> dragonbox::decimal_fp<double>;
template FMT_API auto thousands_sep_impl<char>(locale_ref) -> thousands_sep_result<char>;
template FMT_API auto decimal_point_impl(locale_ref) -> char;

}  // namespace detail
FMT_END_NAMESPACE
