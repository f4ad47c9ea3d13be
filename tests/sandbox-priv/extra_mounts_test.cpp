// Spec::mounts for real: binds and tmpfs mounts attached after pivot_root, their targets
// resolved inside the container, and no trace of them in the upper directory.
#include <catch2/catch.hpp>

#include "sandbox/extra_mounts.hpp"
#include "sandbox/sandbox.hpp"
#include "tests/sandbox-priv/busybox_root.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"

#include <fcntl.h>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

namespace extra_mounts_test {  // this file's own names: a folder's tests compile as unity batches

namespace fs = std::filesystem;
using namespace strata;
using namespace strata::sandbox;

namespace {

std::string contents_of(int fd) {
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = ::pread(fd, buf, sizeof buf, static_cast<off_t>(out.size()))) > 0) out.append(buf, static_cast<std::size_t>(n));
    return out;
}

// Every path in the upper dir, relative and sorted: what the layer would hold.
std::vector<std::string> upper_entries(const fs::path& upper) {
    std::vector<std::string> entries;
    for (const auto& entry : fs::recursive_directory_iterator(upper))
        entries.push_back(fs::relative(entry.path(), upper).string());
    std::sort(entries.begin(), entries.end());
    return entries;
}

std::vector<std::string> leftover_mounts(const std::string& marker) {
    std::vector<std::string> left;
    std::istringstream lines(read_file("/proc/self/mountinfo"));
    for (std::string line; std::getline(lines, line);)
        if (line.find(marker) != std::string::npos) left.push_back(line);
    return left;
}

struct Run {
    TempDir base{"/var/tmp", "strata-mounts-test-"};
    Spec spec;
    Fd out{::open(base.path().c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600)};

    explicit Run(const std::string& script) {
        for (const char* dir : {"upper", "work", "state"}) make_dirs(base.path() / dir);
        spec.lower_dirs = {test::busybox_root()};
        spec.upper_dir = base.path() / "upper";
        spec.work_dir = base.path() / "work";
        spec.state_dir = base.path() / "state";
        spec.argv = {"/bin/sh", "-c", script};
        spec.env = {"PATH=/bin"};
        spec.stdin_fd = -1;
        spec.stdout_fd = out.get();
        spec.stderr_fd = out.get();
    }
    void bind(const fs::path& source, const std::string& target, bool read_only = true) {
        Mount m;
        m.source = source;
        m.target = target;
        m.read_only = read_only;
        spec.mounts.push_back(m);
    }
    void tmpfs(const std::string& target, std::optional<std::int64_t> size = {}, unsigned mode = 01777) {
        Mount m;
        m.kind = Mount::Kind::tmpfs;
        m.target = target;
        m.size_bytes = size;
        m.mode = mode;
        spec.mounts.push_back(m);
    }
    Result run() { return sandbox::run(spec); }
    std::string output() { return contents_of(out.get()); }
    std::vector<std::string> diff() const { return upper_entries(spec.upper_dir); }
};

} // namespace

TEST_CASE("a tmpfs on a new path is writable and leaves nothing in the diff", "[sandbox-priv][mounts]") {
    Run box("echo data > /new/dir/file && cat /new/dir/file && stat -c %a /new/dir && echo kept > /kept");
    box.tmpfs("/new/dir", std::nullopt, 0700);
    const auto result = box.run();
    INFO(box.output());
    REQUIRE(result.exit_code == 0);
    CHECK(box.output() == "data\n700\n");
    CHECK(box.diff() == std::vector<std::string>{"kept"});
}

TEST_CASE("a tmpfs size limit is enforced", "[sandbox-priv][mounts]") {
    Run box("head -c 2097152 /dev/zero > /scratch/big; echo status=$?; stat -c %s /scratch/big");
    box.tmpfs("/scratch", 1 << 20);
    const auto result = box.run();
    INFO(box.output());
    CHECK(result.exit_code == 0);
    CHECK(box.output().find("status=0") == std::string::npos);
    CHECK(box.output().ends_with("\n1048576\n"));  // full at 1 MiB
    CHECK(box.diff().empty());
}

TEST_CASE("a read-only bind shows the host directory and refuses writes", "[sandbox-priv][mounts]") {
    TempDir host("/var/tmp", "strata-mounts-src-");
    write_file_atomic(host.path() / "hello.txt", "from the host\n");
    Run box("cat /src/hello.txt; touch /src/new && echo wrote");
    box.bind(host.path(), "/src");
    const auto result = box.run();
    CHECK(result.exit_code != 0);
    CHECK(box.output().find("from the host\n") == 0);
    CHECK(box.output().find("Read-only file system") != std::string::npos);
    CHECK(box.output().find("wrote") == std::string::npos);
    CHECK_FALSE(fs::exists(host.path() / "new"));
    CHECK(box.diff().empty());
}

TEST_CASE("a read-write bind writes through to the host", "[sandbox-priv][mounts]") {
    TempDir host("/var/tmp", "strata-mounts-src-");
    Run box("echo made > /cache/made");
    box.bind(host.path(), "/cache", false);
    REQUIRE(box.run().exit_code == 0);
    CHECK(read_file(host.path() / "made") == "made\n");
    CHECK(box.diff().empty());
}

TEST_CASE("a file bind lands on a new file in an existing directory without copying it up", "[sandbox-priv][mounts]") {
    TempDir host("/var/tmp", "strata-mounts-src-");
    write_file_atomic(host.path() / "secret", "s3cr3t", 0400);
    Run box("cat /etc/app/secret; echo; cat /etc/hostname-file; stat -c %a /etc/app/secret");
    box.bind(host.path() / "secret", "/etc/app/secret");
    const auto result = box.run();
    INFO(box.output());
    REQUIRE(result.exit_code == 0);
    CHECK(box.output() == "s3cr3t\nimage\n400\n");
    CHECK(box.diff().empty());  // neither etc/ (copied up) nor etc/app/secret (a stub)
}

TEST_CASE("mounts nest in order, and a target inside /dev is made in its tmpfs", "[sandbox-priv][mounts]") {
    TempDir host("/var/tmp", "strata-mounts-src-");
    write_file_atomic(host.path() / "script", "#!/bin/sh\necho script ran\n", 0755);
    Run box("/dev/pipes/script && ls /outer && cat /outer/inner/script | head -c 9");
    box.bind(host.path() / "script", "/dev/pipes/script");
    box.tmpfs("/outer");
    box.bind(host.path(), "/outer/inner");
    const auto result = box.run();
    INFO(box.output());
    REQUIRE(result.exit_code == 0);
    CHECK(box.output() == "script ran\ninner\n#!/bin/sh");
    CHECK(box.diff().empty());
}

TEST_CASE("a symlink in the image cannot point a mount target at the host", "[sandbox-priv][mounts]") {
    TempDir host_dir("/var/tmp", "strata-mounts-escape-");
    TempDir layer("/var/tmp", "strata-mounts-layer-");
    ::chmod(layer.path().c_str(), 0755);
    fs::create_symlink(host_dir.path(), layer.path() / "out");  // absolute: the host path
    make_dirs(layer.path() / host_dir.path().relative_path());  // and the same path in the image
    Run box("echo inside > /out/m/file && cat " + (host_dir.path() / "m/file").string());
    box.spec.lower_dirs.insert(box.spec.lower_dirs.begin(), layer.path());
    box.tmpfs("/out/m");
    const auto result = box.run();
    INFO(box.output());
    REQUIRE(result.exit_code == 0);
    CHECK(box.output() == "inside\n");
    // The target resolved inside the container's root; the host directory is untouched.
    CHECK(fs::is_empty(host_dir.path()));
}

TEST_CASE("a WORKDIR inside a bind is used as it is", "[sandbox-priv][mounts]") {
    TempDir host("/var/tmp", "strata-mounts-src-");
    write_file_atomic(host.path() / "marker", "");
    Run box("ls");
    box.spec.cwd = "/work/src";
    box.bind(host.path(), "/work/src");
    REQUIRE(box.run().exit_code == 0);
    CHECK(box.output() == "marker\n");
    CHECK(box.diff().empty());
}

TEST_CASE("a bind whose source is missing or a symlink fails before the run, naming it", "[sandbox-priv][mounts]") {
    TempDir host("/var/tmp", "strata-mounts-src-");
    Run missing("true");
    missing.bind(host.path() / "nope", "/x");
    CHECK_THROWS_WITH(missing.run(), Catch::Contains("mount bind '" + (host.path() / "nope").string() + "' on '/x'") &&
                                         Catch::Contains("No such file or directory"));

    fs::create_symlink("/etc", host.path() / "link");
    Run link("true");
    link.bind(host.path() / "link", "/x");
    CHECK_THROWS_WITH(link.run(), Catch::Contains("is a symbolic link"));

    Run relative("true");
    relative.tmpfs("relative/path");
    CHECK_THROWS_WITH(relative.run(), Catch::Contains("not an absolute path"));
}

TEST_CASE("runs with mounts leave no mounts behind", "[sandbox-priv][mounts]") {
    TempDir host("/var/tmp", "strata-mounts-src-");
    {
        Run box("true");
        box.bind(host.path(), "/a");
        box.tmpfs("/b");
        REQUIRE(box.run().exit_code == 0);
    }
    CHECK(leftover_mounts("strata-mounts-").empty());
}

TEST_CASE("container paths are cleaned lexically, never above the root", "[sandbox][mounts]") {
    CHECK(clean_container_path("/a/../b/") == "/b");
    CHECK(clean_container_path("/../../x/./y") == "/x/y");
    CHECK(clean_container_path("x") == "/x");
    CHECK(clean_container_path("/") == "/");
    CHECK(clean_container_path("/a/..") == "/");
}

} // namespace extra_mounts_test
