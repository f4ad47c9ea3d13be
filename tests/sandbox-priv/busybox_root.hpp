#pragma once
// A busybox root for the sandbox's privileged tests: the applets they call, an /etc with
// passwd and group, a /tmp; built once per process and shared by every test file.
#include "util/fs.hpp"

#include <filesystem>
#include <sys/stat.h>

namespace strata::test {

inline const std::filesystem::path& busybox_root() {
    static TempDir dir("/var/tmp", "strata-sandbox-root-");
    static bool built = false;
    if (!built) {
        const auto bin = dir.path() / "bin";
        make_dirs(bin);
        std::filesystem::copy_file("/bin/busybox", bin / "busybox");
        for (const char* applet : {"sh", "echo", "cat", "id", "hostname", "env", "pwd", "ls", "rm", "touch", "mkdir",
                                   "sleep", "yes", "head", "tail", "seq", "true", "false", "kill", "wc", "stat",
                                   "grep", "mount", "unshare", "test", "reboot", "insmod", "date"})
            std::filesystem::create_symlink("busybox", bin / applet);
        make_dirs(dir.path() / "etc");
        write_file_atomic(dir.path() / "etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n");
        write_file_atomic(dir.path() / "etc/group", "root:x:0:root\nnogroup:x:65534:\n");
        write_file_atomic(dir.path() / "etc/hostname-file", "image\n");
        make_dirs(dir.path() / "tmp");
        ::chmod(dir.path().c_str(), 0755);
        built = true;
    }
    return dir.path();
}

} // namespace strata::test
