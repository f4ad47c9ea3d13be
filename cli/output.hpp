#pragma once
// Where commands that write an archive or a tree send it: a file made under a temporary
// name and renamed into place once complete (a failed save or export never leaves a
// truncated tar that looks like a good one), or standard output when it is not a terminal.
#include "util/fd.hpp"

#include <filesystem>
#include <string>

namespace strata::cli {

class OutputFile {
public:
    explicit OutputFile(const std::filesystem::path& path);
    OutputFile(const OutputFile&) = delete;
    OutputFile& operator=(const OutputFile&) = delete;
    ~OutputFile();

    int fd() const { return fd_.get(); }
    void commit();  // fsync, then rename over the destination

private:
    std::filesystem::path path_;
    std::string temp_;
    Fd fd_;
};

// Standard output for `what` ("an archive", "a tar"), refused when it is a terminal as
// docker save and export refuse it.
int binary_stdout(const std::string& what);

} // namespace strata::cli
