// strata run --userns/--uidmap through the real binary: container root is an unprivileged
// host user, the image's files are still root's inside, and what the container writes
// (upper layer, volumes, binds, committed images) carries the right ids on each side.
#include "tests/common/busybox_store.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <memory>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

namespace userns_test {  // this file's own names: a folder's tests compile as unity batches

using namespace strata::test;
namespace fs = std::filesystem;

namespace {

// Far from the ranges useradd hands out (100000 up), so a host user never owns these ids.
constexpr unsigned host_base = 2000000;
const std::string uidmap = "--uidmap 0:" + std::to_string(host_base) + ":65536";

struct ThisFile;
BusyboxStore& store() { return file_store<ThisFile>(); }

// Idmapped overlay layers need Linux 6.8 (lowerdir+); strata refuses --userns before it.
bool kernel_supports_userns() {
    struct utsname name;
    int major = 0, minor = 0;
    if (::uname(&name) != 0 || std::sscanf(name.release, "%d.%d", &major, &minor) != 2) return false;
    if (major > 6 || (major == 6 && minor >= 8)) return true;
    WARN("Linux " << name.release << " has no idmapped overlay layers with lowerdir+: --userns is not tested");
    return false;
}

struct stat owner_of(const fs::path& path) {
    struct stat st {};
    REQUIRE(::lstat(path.c_str(), &st) == 0);
    return st;
}

} // namespace

TEST_CASE("--uidmap: container root is an unprivileged host user that still owns the image's files", "[integration][userns]") {
    if (!kernel_supports_userns()) return;
    auto& s = store();
    const auto inside = s.strata("run " + uidmap + " busybox sh -c 'id; cat /proc/self/uid_map /proc/self/gid_map; "
                                 "stat -c \"%u:%g %n\" / /etc/passwd /dev /dev/shm /etc/hosts; "
                                 "echo changed >> /etc/passwd && echo hi >> /etc/hosts && mkdir /made && echo writable; "
                                 "ps -o user,pid | grep \" 1$\"'");
    INFO(inside.output);
    REQUIRE(inside.exit_code == 0);
    CHECK(inside.output.find("uid=0(root) gid=0(root)") == 0);
    CHECK(count_occurrences(inside.output, "         0    " + std::to_string(host_base) + "      65536") == 2);
    CHECK(inside.output.find("0:0 /\n0:0 /etc/passwd\n0:0 /dev\n0:0 /dev/shm\n0:0 /etc/hosts\n") != std::string::npos);
    CHECK(inside.output.find("writable") != std::string::npos);
    CHECK(inside.output.find("root ") != std::string::npos);  // PID 1 (init) is the container's root too

    // Seen from the host, the same root is host_base: a bind shows it, and host-root files stay closed to it.
    ScratchDir host;
    ::chmod(host.path().c_str(), 0777);
    write_text(host.path() / "secret", "host only\n");
    ::chmod((host.path() / "secret").c_str(), 0600);
    const auto bind = s.strata("run " + uidmap + " -v " + quote(host.path().string()) +
                               ":/h busybox sh -c 'touch /h/by-root; cat /h/secret || echo denied; stat -c %u /h/secret'");
    INFO(bind.output);
    CHECK(owner_of(host.path() / "by-root").st_uid == host_base);
    CHECK(bind.output.find("denied") != std::string::npos);
    CHECK(bind.output.find("\n65534\n") != std::string::npos);  // host root is nobody inside
    CHECK(s.strata("run -v " + quote(host.path().string()) + ":/h busybox cat /h/secret").output == "host only\n");

    // Another user maps by the same offset, and has no capabilities.
    const auto user = s.strata("run " + uidmap + " -u 1000:1000 -v " + quote(host.path().string()) +
                               ":/h busybox sh -c 'touch /h/by-1000; grep CapEff /proc/self/status'");
    CHECK(user.output.find("0000000000000000") != std::string::npos);
    CHECK(owner_of(host.path() / "by-1000").st_uid == host_base + 1000);
    CHECK(owner_of(host.path() / "by-1000").st_gid == host_base + 1000);
}

TEST_CASE("--uidmap: tmpfs mounts and new volumes belong to the container's root", "[integration][userns]") {
    if (!kernel_supports_userns()) return;
    auto& s = store();
    const auto out = s.strata("run " + uidmap + " --tmpfs /scratch -v userns-empty:/data -v userns-etc:/etc busybox "
                              "sh -c 'stat -c \"%u:%g %n\" /scratch /data /etc /etc/passwd; touch /scratch/a /data/b && echo ok'");
    INFO(out.output);
    CHECK(out.output == "0:0 /scratch\n0:0 /data\n0:0 /etc\n0:0 /etc/passwd\nok\n");
    // On disk they are the container root's host ids, the image's copy included.
    const fs::path volumes = s.root / "volumes";
    CHECK(owner_of(volumes / "userns-empty" / "_data").st_uid == host_base);
    CHECK(owner_of(volumes / "userns-empty" / "_data" / "b").st_uid == host_base);
    CHECK(owner_of(volumes / "userns-etc" / "_data" / "passwd").st_uid == host_base);
}

TEST_CASE("--uidmap with --name: commit writes the container's own ids into the layer", "[integration][userns]") {
    if (!kernel_supports_userns()) return;
    auto& s = store();
    REQUIRE(s.strata("run --name userns-kept " + uidmap + " busybox sh -c "
                     "'echo x > /etc/made; chown 1000:1001 /etc/made; mkdir /w; rm /etc/group'")
                .exit_code == 0);
    // The kept upper layer holds host ids...
    const fs::path upper = s.root / "containers" / "userns-kept" / "upper";
    CHECK(owner_of(upper / "etc" / "made").st_uid == host_base + 1000);
    CHECK(owner_of(upper / "w").st_uid == host_base);
    // ... and the image has the container's.
    const auto commit = s.strata("commit userns-kept userns-committed");
    INFO(commit.output);
    REQUIRE(commit.exit_code == 0);
    const auto seen = s.strata("run userns-committed sh -c 'stat -c \"%u:%g %n\" /etc/made /w; ls /etc/group || echo gone'");
    CHECK(seen.output.find("1000:1001 /etc/made\n0:0 /w\n") == 0);
    CHECK(seen.output.find("gone") != std::string::npos);
    CHECK(s.strata("rm userns-kept").exit_code == 0);
}

TEST_CASE("--uidmap: a root that cannot reach the host, and flags that do not combine", "[integration][userns]") {
    if (!kernel_supports_userns()) return;
    auto& s = store();
    // Even with every capability added, the namespaces it lives in are the host root's.
    const auto confined = s.strata("run " + uidmap + " --cap-add ALL busybox sh -c "
                                   "'mount -t tmpfs t /mnt 2>&1 || echo no-mount; hostname other 2>&1 || echo no-hostname'");
    INFO(confined.output);
    CHECK(confined.output.find("no-mount") != std::string::npos);
    CHECK(confined.output.find("no-hostname") != std::string::npos);
    // With its own network it may still serve on port 80, as docker allows any user to.
    const auto port = s.strata("run --network none " + uidmap + " busybox sh -c 'nc -l -p 80 & sleep 0.3; netstat -ltn; kill $!'");
    CHECK(port.output.find(":80 ") != std::string::npos);

    const auto privileged = s.strata("run --privileged " + uidmap + " busybox true");
    CHECK(privileged.exit_code == 125);
    CHECK(privileged.output.find("--privileged cannot be combined with a user namespace") != std::string::npos);
    CHECK(s.strata("run --uidmap 1:100000:10 busybox true").output.find("starting at container id 0") != std::string::npos);
    CHECK(s.strata("run --uidmap 0:0:65536 busybox true").output.find("must not include root") != std::string::npos);
    CHECK(s.strata("run --userns maybe busybox true").exit_code == 125);
    std::ifstream subuid("/etc/subuid");
    const std::string granted((std::istreambuf_iterator<char>(subuid)), {});
    if (granted.find("strata:") == std::string::npos && granted.find("containers:") == std::string::npos) {
        const auto automatic = s.strata("run --userns auto busybox true");
        CHECK(automatic.exit_code == 125);
        CHECK(automatic.output.find("/etc/subuid and /etc/subgid grant no range") != std::string::npos);
    }
}

TEST_CASE("strata bundle --uidmap: runc runs it in the same user namespace with the same view", "[integration][userns][bundle]") {
    if (!kernel_supports_userns()) return;
    if (sh("command -v runc").exit_code != 0) {
        WARN("runc is not installed: the bundle is not run");
        return;
    }
    auto& s = store();
    ScratchDir dir;
    // runc mounts the rootfs as the container's root, which must be able to reach it.
    ::chmod(dir.path().c_str(), 0755);
    const fs::path bundle = dir.path() / "bundle";
    const std::string probe = "sh -c '{ id; cat /proc/self/uid_map; stat -c \"%u:%g %n\" / /etc /etc/passwd /etc/hosts; "
                              "touch /etc/new && echo writable; } 2>&1'";
    const auto made = s.strata("bundle " + uidmap + " busybox " + quote(bundle.string()) + " " + probe);
    INFO(made.output);
    REQUIRE(made.exit_code == 0);
    std::ifstream config_file(bundle / "config.json");
    const auto config = nlohmann::json::parse(config_file);
    CHECK(config["linux"]["uidMappings"][0]["hostID"] == host_base);
    CHECK(owner_of(bundle / "rootfs" / "etc" / "passwd").st_uid == host_base);

    const auto with_runc = sh("runc --root " + quote((dir.path() / "runc-state").string()) + " run --bundle " +
                              quote(bundle.string()) + " strata-userns-test-" + std::to_string(::getpid()));
    const auto with_strata = s.strata("run " + uidmap + " busybox " + probe);
    INFO("runc:\n" << with_runc.output << "strata:\n" << with_strata.output);
    CHECK(with_runc.exit_code == 0);
    CHECK(with_runc.output == with_strata.output);
    CHECK(with_strata.output.find("writable") != std::string::npos);
}

} // namespace userns_test
