#include "cli/output.hpp"

#include "util/error.hpp"

#include <fcntl.h>
#include <iostream>
#include <sys/stat.h>
#include <unistd.h>

namespace strata::cli {

OutputFile::OutputFile(const std::filesystem::path& path) : path_(path) {
    std::string tmpl = path.string() + ".tmp-XXXXXX";
    fd_ = Fd(::mkostemp(tmpl.data(), O_CLOEXEC));
    if (!fd_) throw_errno("create", tmpl);
    temp_ = std::move(tmpl);
    // mkstemp's 0600 would make the file unreadable by the tools it is meant for.
    if (::fchmod(fd_.get(), 0644) != 0) throw_errno("chmod", temp_);
}

OutputFile::~OutputFile() {
    if (!temp_.empty()) ::unlink(temp_.c_str());
}

void OutputFile::commit() {
    if (::fsync(fd_.get()) != 0) throw_errno("fsync", temp_);
    fd_.reset();
    if (::rename(temp_.c_str(), path_.c_str()) != 0) throw_errno("rename", path_.string());
    temp_.clear();
}

int binary_stdout(const std::string& what) {
    if (::isatty(STDOUT_FILENO)) throw Error("refusing to write " + what + " to a terminal: use -o FILE or redirect stdout");
    std::cout.flush();
    return STDOUT_FILENO;
}

} // namespace strata::cli
