#pragma once
// Tar archives that try to escape the directory they are extracted into, or are broken,
// made by python's tarfile (which writes whatever name it is given), with the entry each
// one must be refused by. For every reader of untrusted tars (import, ADD, load...).
#include "tests/common/shell.hpp"

#include <filesystem>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace strata::test {

struct HostileArchive {
    std::string file;   // in the directory given to make_hostile_archives
    std::string entry;  // the message names it: "tar entry '<entry>'"
};

// Writes the archives into dir and returns them; each one's `entry` is hostile.
inline std::vector<HostileArchive> make_hostile_archives(const std::filesystem::path& dir) {
    const char* script = R"(
import io, sys, tarfile
def add(t, name, data=b"evil\n"):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    t.addfile(info, io.BytesIO(data))
def special(t, name, kind, target=""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    t.addfile(info)
d = sys.argv[1]
with tarfile.open(d + "/dotdot.tar", "w") as t:
    add(t, "ok.txt", b"ok\n"); add(t, "../../evil")
with tarfile.open(d + "/absolute.tar", "w") as t:
    add(t, "/evil")
with tarfile.open(d + "/symlink.tar", "w") as t:
    special(t, "link", tarfile.SYMTYPE, "/tmp"); add(t, "link/evil")
with tarfile.open(d + "/hardlink.tar", "w") as t:
    special(t, "hard", tarfile.LNKTYPE, "../../../etc/passwd")
with tarfile.open(d + "/device.tar", "w") as t:
    special(t, "null", tarfile.CHRTYPE)
with tarfile.open(d + "/big.tar", "w") as t:
    add(t, "first", b"1\n"); add(t, "big", b"b" * 100000)
open(d + "/truncated.tar", "wb").write(open(d + "/big.tar", "rb").read()[:50000])
)";
    write_text(dir / "make_hostile.py", script);
    const auto made = sh("python3 " + quote((dir / "make_hostile.py").string()) + " " + quote(dir.string()));
    if (made.exit_code != 0) throw std::runtime_error("making hostile archives failed: " + made.output);
    return {{"dotdot.tar", "../../evil"}, {"absolute.tar", "/evil"}, {"symlink.tar", "link/evil"},
            {"hardlink.tar", "hard"},     {"device.tar", "null"},     {"truncated.tar", "big"}};
}

} // namespace strata::test
