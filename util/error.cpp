#include "util/error.hpp"

#include <cerrno>
#include <cstring>

namespace strata {

Error& Error::add_context(std::string_view context) {
    message_ = std::string(context) + ": " + message_;
    return *this;
}

static std::string format_sys(std::string_view call, std::string_view object, int err) {
    std::string msg(call);
    if (!object.empty()) {
        msg += " '";
        msg += object;
        msg += "'";
    }
    msg += ": ";
    msg += std::strerror(err);
    return msg;
}

SysError::SysError(std::string_view call, std::string_view object, int err)
    : Error(format_sys(call, object, err)), errno_(err) {}

void throw_errno(std::string_view call, std::string_view object) {
    const int err = errno;
    throw SysError(call, object, err);
}

void throw_error_code(std::string_view call, std::string_view object, int err) {
    throw SysError(call, object, err);
}

} // namespace strata
