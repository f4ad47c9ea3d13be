// strata import's library half: --change instructions edit the config with docker's rules,
// a rootfs tar in any compression becomes a one-layer image, and hostile archives are
// refused by entry name with nothing stored.
#include "builder/import.hpp"
#include "tests/common/hostile_archives.hpp"
#include "tests/common/shell.hpp"
#include "util/fs.hpp"

#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

namespace import_test {  // this file's own names: a folder's tests compile as unity batches

using namespace strata;
using strata::test::quote;
using strata::test::read_text;
using strata::test::ScratchDir;
using strata::test::sh;
using strata::test::write_text;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

void run_or_fail(const std::string& command) {
    const auto r = sh(command);
    INFO(command << "\n" << r.output);
    REQUIRE(r.exit_code == 0);
}

builder::ImageState changed(const std::vector<std::string>& changes) {
    builder::ImageState state = builder::scratch_state("2024-01-01T00:00:00Z");
    builder::apply_changes(state, changes);
    return state;
}

// Good archives in every compression docker import takes (the hostile ones are shared).
const char* make_archives = R"(
import io, sys, tarfile
def add(t, name, data=b"evil\n", mode=0o644):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    info.mtime = 1600000000
    t.addfile(info, io.BytesIO(data))
def special(t, name, kind, target="", mode=0o755):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    info.mode = mode
    info.mtime = 1600000000
    t.addfile(info)
d = sys.argv[1]
for suffix, mode in (("tar", "w"), ("tar.gz", "w:gz"), ("tar.bz2", "w:bz2"), ("tar.xz", "w:xz")):
    with tarfile.open(d + "/rootfs." + suffix, mode) as t:
        special(t, "./", tarfile.DIRTYPE)
        special(t, "./bin", tarfile.DIRTYPE)
        add(t, "./bin/tool", b"#!/bin/sh\necho tool\n", 0o4755)
        special(t, "./bin/sh", tarfile.SYMTYPE, "tool", 0o777)
        special(t, "./bin/also", tarfile.LNKTYPE, "bin/tool")
        special(t, "./etc", tarfile.DIRTYPE)
        add(t, "./etc/hosts", b"127.0.0.1 localhost\n")

with tarfile.open(d + "/sparse.tar", "w") as t:
    add(t, "var/lib/x")
)";

struct Archives {
    ScratchDir dir;
    Archives() {
        write_text(dir.path() / "make.py", make_archives);
        run_or_fail("python3 " + quote((dir.path() / "make.py").string()) + " " + quote(dir.path().string()));
        run_or_fail("zstd -q -f " + quote((dir.path() / "rootfs.tar").string()) + " -o " +
                    quote((dir.path() / "rootfs.tar.zst").string()));
        // gzip of incompressible bytes, cut in the middle of the file's data.
        run_or_fail("cd " + quote(dir.path().string()) + " && head -c 200000 /dev/urandom > noise && tar cf noise.tar noise && "
                    "gzip -c noise.tar | head -c 100000 > truncated.tar.gz");
    }
    fs::path operator/(const std::string& name) const { return dir.path() / name; }
};

std::size_t snapshot_count(const store::Store& store) {
    const fs::path dir = store.root() / "snapshots";
    if (!fs::exists(dir)) return 0;
    return static_cast<std::size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
}

} // namespace

TEST_CASE("--change sets the config as the same Dockerfile line would", "[import]") {
    const auto state = changed({"CMD [\"/bin/tool\", \"arg\"]", "ENV A=1 B=two", "ENV C=$A-${B}", "WORKDIR /srv",
                                "WORKDIR sub", "USER 1000:1000", "EXPOSE 80 53/udp", "LABEL k=v", "VOLUME /data",
                                "STOPSIGNAL SIGINT", "ONBUILD RUN echo hi"});
    const json& rc = state.config["config"];
    CHECK(rc["Cmd"] == json::array({"/bin/tool", "arg"}));
    CHECK(rc["Env"] == json::array({std::string("PATH=") + builder::default_path_env, "A=1", "B=two", "C=1-two"}));
    CHECK(rc["WorkingDir"] == "/srv/sub");
    CHECK(rc["User"] == "1000:1000");
    CHECK(rc["ExposedPorts"] == json({{"80/tcp", json::object()}, {"53/udp", json::object()}}));
    CHECK(rc["Labels"] == json({{"k", "v"}}));
    CHECK(rc["Volumes"] == json({{"/data", json::object()}}));
    CHECK(rc["StopSignal"] == "SIGINT");
    CHECK(rc["OnBuild"] == json::array({"RUN echo hi"}));
    CHECK(state.config["history"].empty());  // docker import records no entry per change

    CHECK(changed({"CMD echo hi"}).config["config"]["Cmd"] == json::array({"/bin/sh", "-c", "echo hi"}));
    // An ENTRYPOINT drops an earlier Cmd only when no CMD came in the same changes.
    CHECK_FALSE(changed({"ENTRYPOINT [\"/e\"]"}).config["config"].contains("Cmd"));
    CHECK(changed({"CMD [\"c\"]", "ENTRYPOINT [\"/e\"]"}).config["config"]["Cmd"] == json::array({"c"}));
}

TEST_CASE("--change refuses what docker import refuses, naming the change", "[import]") {
    CHECK_THROWS_WITH(changed({"RUN echo hi"}), Catch::Contains("--change 'RUN echo hi'") && Catch::Contains("RUN is not allowed"));
    CHECK_THROWS_WITH(changed({"COPY a b"}), Catch::Contains("COPY is not allowed"));
    CHECK_THROWS_WITH(changed({"FROM x"}), Catch::Contains("exactly one instruction"));
    CHECK_THROWS_WITH(changed({"CMD a\nCMD b"}), Catch::Contains("exactly one instruction"));
    CHECK_THROWS_WITH(changed({""}), Catch::Contains("exactly one instruction"));
    CHECK_THROWS_WITH(changed({"BOGUS x"}), Catch::Contains("--change 'BOGUS x'") && Catch::Contains("unknown instruction") &&
                                                !Catch::Contains("Buildfile:2"));
    CHECK_THROWS_WITH(changed({"EXPOSE 99999"}), Catch::Contains("invalid port"));
}

TEST_CASE("import makes a one-layer image of a rootfs tar in any compression", "[import]") {
    if (::geteuid() != 0) {
        WARN("not root: an import restores the archive's owners; skipped");
        return;
    }
    Archives archives;
    ScratchDir dir;
    store::Store store(dir.path() / "root");
    std::string first_diff_id;
    for (const char* name : {"rootfs.tar", "rootfs.tar.gz", "rootfs.tar.bz2", "rootfs.tar.xz", "rootfs.tar.zst"}) {
        INFO(name);
        builder::ImportOptions options;
        options.source = name;
        options.changes = {"CMD [\"/bin/tool\"]"};
        options.created_seconds = 1700000000;
        const store::Image image = store.load_image(builder::import_image(store, archives / name, options));
        REQUIRE(image.layers().size() == 1);
        // The layer is strata's own tar of the files: the same whatever the compression.
        if (first_diff_id.empty()) first_diff_id = image.diff_ids().front();
        CHECK(image.diff_ids().front() == first_diff_id);
        CHECK(image.config["config"]["Cmd"] == json::array({"/bin/tool"}));
        CHECK(image.config["created"] == "2023-11-14T22:13:20Z");
        CHECK(image.config["history"] ==
              json::array({{{"created", "2023-11-14T22:13:20Z"}, {"comment", std::string("Imported from ") + name}}}));
        const fs::path root = store.ensure_snapshots(image).front();
        CHECK(read_text(root / "bin" / "tool") == "#!/bin/sh\necho tool\n");
        CHECK(fs::read_symlink(root / "bin" / "sh") == "tool");
        CHECK(fs::equivalent(root / "bin" / "also", root / "bin" / "tool"));
        struct stat st {};
        REQUIRE(::lstat((root / "bin" / "tool").c_str(), &st) == 0);
        CHECK((st.st_mode & 07777) == 04755);
        CHECK(st.st_mtim.tv_sec == 1600000000);
    }
    SECTION("directories the archive does not list are made 0755 root:root, as tar -x makes them") {
        const store::Image image = store.load_image(builder::import_image(store, archives / "sparse.tar", {}));
        const fs::path root = store.ensure_snapshots(image).front();
        struct stat st {};
        REQUIRE(::lstat((root / "var" / "lib").c_str(), &st) == 0);
        CHECK(S_ISDIR(st.st_mode));
        CHECK((st.st_mode & 07777) == 0755);
        CHECK(st.st_uid == 0);
        CHECK(read_text(root / "var" / "lib" / "x") == "evil\n");
    }
    SECTION("-m replaces the history comment") {
        builder::ImportOptions options;
        options.source = "-";
        options.message = "from the vendor";
        const store::Image image = store.load_image(builder::import_image(store, archives / "rootfs.tar", options));
        CHECK(image.config["history"][0]["comment"] == "from the vendor");
    }
}

TEST_CASE("import refuses hostile and broken archives by entry name and stores nothing", "[import]") {
    if (::geteuid() != 0) {
        WARN("not root: an import restores the archive's owners; skipped");
        return;
    }
    Archives archives;
    ScratchDir dir;
    store::Store store(dir.path() / "root");
    auto cases = strata::test::make_hostile_archives(archives.dir.path());
    cases.push_back({"truncated.tar.gz", "noise"});
    for (const auto& [name, entry] : cases) {
        INFO(name);
        builder::ImportOptions options;
        options.source = name;
        CHECK_THROWS_WITH(builder::import_image(store, archives / name, options),
                          Catch::Contains("importing '" + name + "'") && Catch::Contains("tar entry '" + entry + "'"));
    }
    // The reasons, in the words of ADD's extraction.
    CHECK_THROWS_WITH(builder::import_image(store, archives / "symlink.tar", {}), Catch::Contains("'link' is a symbolic link"));
    CHECK_THROWS_WITH(builder::import_image(store, archives / "device.tar", {}), Catch::Contains("device nodes"));
    CHECK(snapshot_count(store) == 0);
    CHECK(store.tags().empty());
    CHECK(sh("find " + quote(dir.path().string()) + " " + quote(archives.dir.path().string()) + " -name evil").output.empty());
    CHECK_FALSE(fs::exists("/evil"));
}

} // namespace import_test
