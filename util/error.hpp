#pragma once
// One error type for the whole project. A message reads "verb 'object': reason",
// and each layer the error passes through may prepend context ("building step 3: ...").
// cli/ catches it once and prints "strata: error: <what()>".
#include <exception>
#include <string>
#include <string_view>

namespace strata {

class Error : public std::exception {
public:
    explicit Error(std::string message) : message_(std::move(message)) {}
    const char* what() const noexcept override { return message_.c_str(); }
    const std::string& message() const noexcept { return message_; }
    // Prepends "context: " to the message; returns *this so `throw e.add_context(..)` reads well.
    Error& add_context(std::string_view context);

private:
    std::string message_;
};

// A failed system call: "open '/x': No such file or directory".
class SysError : public Error {
public:
    SysError(std::string_view call, std::string_view object, int err);
    int error_code() const noexcept { return errno_; }

private:
    int errno_;
};

// Reads errno first (before anything can clobber it), then throws SysError.
[[noreturn]] void throw_errno(std::string_view call, std::string_view object = {});
[[noreturn]] void throw_error_code(std::string_view call, std::string_view object, int err);

// Runs fn(); if it throws strata::Error, prepends context and rethrows.
template <typename Fn>
decltype(auto) with_context(std::string_view context, Fn&& fn) {
    try {
        return fn();
    } catch (Error& e) {
        e.add_context(context);
        throw;
    }
}

} // namespace strata
