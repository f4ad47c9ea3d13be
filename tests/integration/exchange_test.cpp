// strata save, load and build --output against the tools that read and write the same
// archives: skopeo, umoci, a private dockerd (docker 20.10: load, run, save) and buildah,
// on a busybox image built FROM scratch; saved layouts pass the OCI schema validator.
#include "tests/common/busybox_store.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <csignal>
#include <memory>
#include <thread>
#include <unistd.h>

namespace exchange_test {  // this file's own names: a folder's tests compile as unity batches

using namespace strata::test;
namespace fs = std::filesystem;

namespace {

struct ThisFile;
BusyboxStore& store() { return file_store<ThisFile>(); }

// The manifest digest skopeo reads for a reference ("oci-archive:FILE:busybox:latest").
std::string skopeo_digest(const std::string& reference) {
    const auto inspect = sh_stdout("skopeo inspect " + quote(reference));
    INFO(reference);
    REQUIRE(inspect.exit_code == 0);
    return nlohmann::json::parse(inspect.output)["Digest"].get<std::string>();
}

std::string busybox_digest() { return skopeo_digest("oci:" + (store().root / "oci").string() + ":busybox:latest"); }

// Every path below dir with its type, mode, owner, size and link target, sorted.
std::string tree_listing(const fs::path& dir) {
    const auto listing = sh_stdout("cd " + quote(dir.string()) + " && find . -mindepth 1 -printf '%p %y %m %U:%G %s %l\\n' | sort");
    REQUIRE(listing.exit_code == 0);
    return listing.output;
}

// Checks an OCI layout with tests/oci-schema's validator (the image-spec schemas and
// upstream's extra rules, every blob against its digest).
void require_valid_layout(const fs::path& layout) {
    const fs::path conformance = fs::path(STRATA_CONFORMANCE_DIR) / "oci-image-spec";
    if (!fs::is_directory(conformance / "schema")) {
        WARN("conformance data absent at " << conformance.string() << ": the OCI schemas are not checked");
        return;
    }
    const auto report = sh("/usr/bin/python3 " + quote(STRATA_SOURCE_DIR "/tests/oci-schema/validate_oci.py") +
                           " layout --conformance " + quote(conformance.string()) + " " + quote(layout.string()));
    INFO(report.output);
    CHECK(report.exit_code == 0);
    CHECK(report.output.find(", 0 failed") != std::string::npos);
}

fs::path extracted(const fs::path& archive, const fs::path& dir) {
    fs::create_directories(dir);
    REQUIRE(sh("tar xf " + quote(archive.string()) + " -C " + quote(dir.string())).exit_code == 0);
    return dir;
}

// A dockerd of its own: a private socket, data and exec roots, no bridge, no iptables.
class PrivateDockerd {
public:
    PrivateDockerd() {
        const fs::path d = dir_.path();
        socket_ = (d / "docker.sock").string();
        const auto started = sh_stdout("dockerd --host unix://" + quote(socket_) + " --data-root " + quote((d / "data").string()) +
                                       " --exec-root " + quote((d / "exec").string()) + " --pidfile " + quote((d / "docker.pid").string()) +
                                       " --bridge=none --iptables=false --ip6tables=false > " + quote((d / "log").string()) +
                                       " 2>&1 & echo $!");
        pid_ = std::stoi(started.output);
        for (int i = 0; i < 150 && !ready_; ++i) {
            ready_ = sh(docker("version")).exit_code == 0;
            if (!ready_) std::this_thread::sleep_for(std::chrono::milliseconds(200));
        }
    }
    ~PrivateDockerd() {
        ::kill(pid_, SIGTERM);
        for (int i = 0; i < 100 && ::kill(pid_, 0) == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(200));
        if (::kill(pid_, 0) == 0) ::kill(pid_, SIGKILL);
        // Anything it left mounted goes before its directories are removed.
        sh("grep -o " + quote(" " + dir_.path().string() + "/[^ ]*") + " /proc/mounts | sort -r | xargs -r umount -l");
    }
    PrivateDockerd(const PrivateDockerd&) = delete;
    PrivateDockerd& operator=(const PrivateDockerd&) = delete;

    bool ready() const { return ready_; }
    std::string log() const { return read_text(dir_.path() / "log"); }
    std::string docker(const std::string& args) const { return "/usr/bin/docker -H unix://" + quote(socket_) + " " + args; }

private:
    ScratchDir dir_{"strata-dockerd-"};
    std::string socket_;
    int pid_ = -1;
    bool ready_ = false;
};

} // namespace

TEST_CASE("a saved oci-archive is read by skopeo, unpacked by umoci and loaded back", "[integration][exchange]") {
    auto& s = store();
    ScratchDir work;
    const fs::path archive = work.path() / "busybox.tar";
    const auto save = s.strata("save busybox -o " + quote(archive.string()));
    INFO(save.output);
    REQUIRE(save.exit_code == 0);
    const std::string digest = busybox_digest();
    CHECK(skopeo_digest("oci-archive:" + archive.string() + ":busybox:latest") == digest);
    require_valid_layout(extracted(archive, work.path() / "layout"));

    // The same tree as strata's own flattened export of the image.
    const fs::path copy = work.path() / "copy", bundle = work.path() / "bundle", local = work.path() / "local";
    const auto copied = sh("skopeo copy -q " + quote("oci-archive:" + archive.string() + ":busybox:latest") + " " +
                           quote("oci:" + copy.string() + ":bb"));
    INFO(copied.output);
    REQUIRE(copied.exit_code == 0);
    const auto unpacked = sh("umoci unpack --image " + quote(copy.string() + ":bb") + " " + quote(bundle.string()));
    INFO(unpacked.output);
    REQUIRE(unpacked.exit_code == 0);
    const auto exported = s.strata("build -q -t busybox -o " + quote("type=local,dest=" + local.string()) + " " +
                                   quote((s.dir.path() / "busybox").string()));
    INFO(exported.output);
    REQUIRE(exported.exit_code == 0);
    CHECK(tree_listing(bundle / "rootfs") == tree_listing(local));

    // Into another store, under its tag and digest, and it runs there.
    const fs::path other = work.path() / "other";
    const std::string other_cmd = quote(STRATA_BINARY) + " --root " + quote(other.string()) + " ";
    const auto loaded = sh(other_cmd + "load -i " + quote(archive.string()));
    INFO(loaded.output);
    REQUIRE(loaded.exit_code == 0);
    CHECK(loaded.output == "Loaded image: busybox:latest\n");
    CHECK(skopeo_digest("oci:" + (other / "oci").string() + ":busybox:latest") == digest);
    const auto ran = sh(other_cmd + "run --network none busybox echo loaded-and-running");
    CHECK(ran.output == "loaded-and-running\n");
}

TEST_CASE("docker 20.10 loads and runs a docker-archive, and strata loads what docker saves", "[integration][exchange]") {
    if (!installed("dockerd") || !installed("containerd") || !fs::exists("/usr/bin/docker")) {
        WARN("dockerd, containerd or /usr/bin/docker is not installed: docker load/save are not tested");
        return;
    }
    auto& s = store();
    ScratchDir work;
    const fs::path archive = work.path() / "busybox-docker.tar";
    REQUIRE(s.strata("save --format docker-archive busybox -o " + quote(archive.string())).exit_code == 0);
    require_valid_layout(extracted(archive, work.path() / "layout"));
    // c/image (skopeo, podman) reads its legacy half.
    CHECK(sh("skopeo inspect " + quote("docker-archive:" + archive.string())).exit_code == 0);

    PrivateDockerd dockerd;
    INFO(dockerd.log());
    REQUIRE(dockerd.ready());
    const auto loaded = sh(dockerd.docker("load -i " + quote(archive.string())));
    INFO(loaded.output);
    REQUIRE(loaded.exit_code == 0);
    CHECK(loaded.output.find("Loaded image: busybox:latest") != std::string::npos);
    const auto ran = sh(dockerd.docker("run --rm --network none busybox:latest echo hello-from-docker"));
    INFO(ran.output);
    CHECK(ran.exit_code == 0);
    CHECK(ran.output == "hello-from-docker\n");

    // docker 20.10's own save: the legacy format (<id>/layer.tar, <id>.json, manifest.json).
    const fs::path saved = work.path() / "docker-saved.tar";
    REQUIRE(sh(dockerd.docker("tag busybox:latest strata-from-docker:v2")).exit_code == 0);
    const auto docker_save = sh(dockerd.docker("save -o " + quote(saved.string()) + " strata-from-docker:v2"));
    INFO(docker_save.output);
    REQUIRE(docker_save.exit_code == 0);
    const auto listing = sh("tar tf " + quote(saved.string()));
    CHECK(listing.output.find("/layer.tar") != std::string::npos);
    CHECK(listing.output.find("index.json") == std::string::npos);

    const auto strata_loaded = s.strata("load -i " + quote(saved.string()));
    INFO(strata_loaded.output);
    REQUIRE(strata_loaded.exit_code == 0);
    CHECK(strata_loaded.output == "Loaded image: strata-from-docker:v2\n");
    const auto strata_ran = s.strata("run --network none strata-from-docker:v2 echo round-trip");
    INFO(strata_ran.output);
    CHECK(strata_ran.exit_code == 0);
    CHECK(strata_ran.output == "round-trip\n");
}

TEST_CASE("an image buildah pushes to an oci-archive loads and runs", "[integration][exchange]") {
    if (!installed("buildah")) {
        WARN("buildah is not installed: its oci-archives are not tested");
        return;
    }
    auto& s = store();
    ScratchDir work;
    const fs::path conf = work.path() / "containers.conf";
    write_text(conf, "[containers]\ndefault_ulimits = []\n[engine]\nruntime = \"runc\"\n");
    const std::string buildah = "CONTAINERS_CONF=" + quote(conf.string()) + " buildah --root " + quote((work.path() / "root").string()) +
                                " --runroot " + quote((work.path() / "run").string()) + " --storage-driver vfs ";
    const fs::path archive = work.path() / "buildah.tar";
    const auto made = sh("set -e; c=$(" + buildah + "from scratch); " + buildah + "copy \"$c\" /bin/busybox /bin/busybox; " + buildah +
                         "config --cmd '[\"/bin/busybox\",\"echo\",\"hello-from-buildah\"]' \"$c\"; " + buildah +
                         "commit -q \"$c\" strata-buildah; " + buildah + "push -q strata-buildah " +
                         quote("oci-archive:" + archive.string() + ":strata-buildah:1") + "; " + buildah + "rm --all");
    INFO(made.output);
    REQUIRE(made.exit_code == 0);

    const auto loaded = s.strata("load -i " + quote(archive.string()));
    INFO(loaded.output);
    REQUIRE(loaded.exit_code == 0);
    CHECK(loaded.output == "Loaded image: strata-buildah:1\n");
    const auto ran = s.strata("run --network none strata-buildah:1");
    INFO(ran.output);
    CHECK(ran.output == "hello-from-buildah\n");
}

TEST_CASE("build --output writes archives, a layout and the image's files", "[integration][exchange]") {
    auto& s = store();
    ScratchDir work;
    const fs::path oci_archive = work.path() / "image.tar", layout = work.path() / "layout", piped = work.path() / "piped.tar";
    const auto built = sh(s.cmd("build -q -t busybox -o type=oci-archive,dest=" + quote(oci_archive.string()) +
                                " --output type=oci,dest=" + quote(layout.string()) + " -o type=docker,dest=- " +
                                quote((s.dir.path() / "busybox").string())) +
                          " > " + quote(piped.string()));
    INFO(built.output);
    REQUIRE(built.exit_code == 0);
    const std::string digest = busybox_digest();
    CHECK(skopeo_digest("oci-archive:" + oci_archive.string() + ":busybox:latest") == digest);
    CHECK(skopeo_digest("oci:" + layout.string() + ":busybox:latest") == digest);
    require_valid_layout(layout);
    // Standard output held the docker archive alone (the digest is not printed then).
    const auto listing = sh("tar tf " + quote(piped.string()));
    INFO(listing.output);
    CHECK(listing.exit_code == 0);
    CHECK(listing.output.find("manifest.json") != std::string::npos);

    SECTION("type=local applies whiteouts: deleted files and replaced directories are gone") {
        const fs::path files = work.path() / "files";
        const auto local = s.build("FROM busybox\n"
                                   "RUN echo gone > /gone && mkdir /d && echo old > /d/old\n"
                                   "RUN rm /gone && rm -r /d && mkdir /d && echo new > /d/new\n",
                                   "-o " + quote(files.string()));
        INFO(local.output);
        REQUIRE(local.exit_code == 0);
        CHECK(read_text(files / "d/new") == "new\n");
        CHECK_FALSE(fs::exists(files / "gone"));
        CHECK_FALSE(fs::exists(files / "d/old"));
        CHECK(fs::is_regular_file(files / "bin/busybox"));
        CHECK(sh_stdout("find " + quote(files.string()) + " -type c -o -name '.wh.*'").output.empty());
    }
    SECTION("bad outputs are refused before anything is built") {
        CHECK(s.strata("build -o type=local,dest=- .").output.find("dest=- (standard output) takes an archive") != std::string::npos);
        CHECK(s.strata("build -o type=registry,dest=x .").output.find("type must be oci, oci-archive, docker or local") !=
              std::string::npos);
        CHECK(s.strata("build -o type=oci .").output.find("dest= is required") != std::string::npos);
    }
}

TEST_CASE("load refuses a hostile archive without tagging anything", "[integration][exchange]") {
    auto& s = store();
    ScratchDir work;
    const fs::path good = work.path() / "good.tar", bad = work.path() / "bad.tar";
    REQUIRE(s.strata("save busybox -o " + quote(good.string())).exit_code == 0);
    // A copy renamed "evil:1" whose index names it, plus an entry that climbs out.
    const fs::path unpacked = extracted(good, work.path() / "unpacked");
    write_text(unpacked / "index.json", sh_stdout("sed 's/busybox:latest/evil:1/g' " + quote((unpacked / "index.json").string())).output);
    REQUIRE(sh("cd " + quote(unpacked.string()) + " && tar cf " + quote(bad.string()) + " oci-layout index.json blobs && " +
               "echo x > evil && tar rPf " + quote(bad.string()) + " --transform 's,^evil,../../evil,' evil")
                .exit_code == 0);
    const auto refused = s.strata("load -i " + quote(bad.string()));
    INFO(refused.output);
    CHECK(refused.exit_code == 1);
    CHECK(refused.output.find("archive entry '../../evil': '..' would lead out of the archive") != std::string::npos);
    CHECK(s.strata("images").output.find("evil") == std::string::npos);
}

} // namespace exchange_test
