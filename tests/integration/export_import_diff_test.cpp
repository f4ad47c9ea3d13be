// strata export, import and diff through the real binary: an export is the filesystem umoci
// unpacks from the same layout, import round-trips it byte for byte and runs, hostile
// archives are refused with nothing tagged, and diff names what RUN steps did.
#include "tests/common/busybox_store.hpp"
#include "tests/common/hostile_archives.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <memory>

namespace export_import_diff_test {  // this file's own names: a folder's tests compile as unity batches

using namespace strata::test;
namespace fs = std::filesystem;

namespace {

struct ThisFile;
BusyboxStore& store() { return file_store<ThisFile>(); }

void run_or_fail(const std::string& command) {
    const auto r = sh(command);
    INFO(command << "\n" << r.output);
    REQUIRE(r.exit_code == 0);
}

// Two layers over busybox: the second deletes a file, replaces a directory (an opaque one
// in its layer), chmods, chowns and rewrites a file at the same size; plus a hard link.
const std::string layered = "FROM busybox\n"
                            "RUN mkdir -p /data/keep /data/opaque && echo a > /data/keep/a && echo b > /data/opaque/b"
                            " && echo gone > /data/gone && ln -s keep/a /data/link && ln /data/keep/a /data/hard"
                            " && echo same > /data/samesize && echo mode > /data/mode\n"
                            "RUN rm /data/gone && rm -rf /data/opaque && mkdir /data/opaque && echo new > /data/opaque/new"
                            " && chmod 0700 /data/mode && echo SAME > /data/samesize && echo added > /data/added"
                            " && chown 1:2 /data/keep/a\n";

const std::string& layered_image() {
    static const bool built = [] {
        const auto r = store().build(layered, "-t layered");
        INFO(r.output);
        REQUIRE(r.exit_code == 0);
        return true;
    }();
    (void)built;
    static const std::string name = "layered";
    return name;
}

// Every entry below dir with its type, mode, owner, link target and mtime, then the
// sha256 of every regular file: what two unpacked filesystems must agree on.
std::string tree_facts(const fs::path& dir) {
    const auto r = sh_stdout("cd " + quote(dir.string()) +
                             " && find . -mindepth 1 -printf '%p|%y|%m|%U:%G|%l|%T@\\n' | LC_ALL=C sort"
                             " && find . -type f -exec sha256sum {} + | LC_ALL=C sort");
    REQUIRE(r.exit_code == 0);
    return r.output;
}

std::string export_to(const BusyboxStore& s, const std::string& image, const fs::path& file) {
    const auto r = s.strata("export " + image + " -o " + quote(file.string()));
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    return read_text(file);
}

} // namespace

TEST_CASE("export writes the merged filesystem, deletions applied, as umoci unpacks it", "[integration][export]") {
    auto& s = store();
    const std::string image = layered_image();
    // The layers really hold a whiteout and an opaque directory.
    const std::string layers = s.layer_listing(image);
    CHECK(layers.find("data/.wh.gone") != std::string::npos);
    CHECK(layers.find("data/opaque/.wh..wh..opq") != std::string::npos);

    ScratchDir dir;
    const std::string exported = export_to(s, image, dir.path() / "a.tar");
    // To stdout, and a second time: the same bytes.
    REQUIRE(sh(s.cmd("export " + image) + " > " + quote((dir.path() / "b.tar").string())).exit_code == 0);
    CHECK(read_text(dir.path() / "b.tar") == exported);

    const auto listing = sh_stdout("tar tf " + quote((dir.path() / "a.tar").string()));
    REQUIRE(listing.exit_code == 0);
    CHECK(listing.output.find(".wh.") == std::string::npos);
    CHECK(listing.output.find("data/gone") == std::string::npos);
    CHECK(listing.output.find("data/opaque/b") == std::string::npos);
    CHECK(listing.output.find("data/opaque/new\n") != std::string::npos);
    CHECK(listing.output.find("bin/busybox\n") != std::string::npos);
    // Numeric owners, no names: the chown is in the numbers.
    const auto verbose = sh_stdout("tar tvf " + quote((dir.path() / "a.tar").string()) + " data/keep/a");
    CHECK(verbose.output.find(" 1/2 ") != std::string::npos);

    if (!installed("umoci")) {
        WARN("umoci is not installed: the comparison with umoci's unpack is skipped");
        return;
    }
    run_or_fail("umoci raw unpack --image " + quote((s.root / "oci").string() + ":" + image + ":latest") + " " +
                quote((dir.path() / "umoci").string()));
    fs::create_directories(dir.path() / "ours");
    run_or_fail("tar -xpf " + quote((dir.path() / "a.tar").string()) + " --numeric-owner -C " + quote((dir.path() / "ours").string()));
    const std::string ours = tree_facts(dir.path() / "ours");
    CHECK(ours.find("./data/mode|f|700|0:0|") != std::string::npos);
    CHECK(ours == tree_facts(dir.path() / "umoci"));
}

TEST_CASE("an import of an export runs, and exports byte for byte alike", "[integration][import]") {
    auto& s = store();
    ScratchDir dir;
    const fs::path tar = dir.path() / "a.tar";
    const std::string exported = export_to(s, layered_image(), tar);

    const auto imported = s.strata("import " + quote(tar.string()) + " imported --change 'CMD [\"/bin/cat\", \"/data/opaque/new\"]'");
    INFO(imported.output);
    REQUIRE(imported.exit_code == 0);
    const auto config = s.config("imported:latest");
    CHECK(config["config"]["Cmd"] == nlohmann::json::array({"/bin/cat", "/data/opaque/new"}));
    CHECK(config["rootfs"]["diff_ids"].size() == 1);
    CHECK(config["history"][0]["comment"] == "Imported from " + tar.string());

    // Without a command the --change CMD runs; with one, that one.
    const auto by_cmd = s.strata_stdout("run imported");
    CHECK(by_cmd.exit_code == 0);
    CHECK(by_cmd.output == "new\n");
    const auto given = s.strata_stdout("run imported /bin/sh -c 'stat -c %a /data/mode; cat /data/samesize'");
    CHECK(given.exit_code == 0);
    CHECK(given.output == "700\nSAME\n");

    CHECK(export_to(s, "imported", dir.path() / "again.tar") == exported);

    SECTION("from stdin, compressed, with a message") {
        run_or_fail("zstd -q " + quote(tar.string()) + " -o " + quote((dir.path() / "a.tar.zst").string()));
        const auto piped = sh("cat " + quote((dir.path() / "a.tar.zst").string()) + " | " + s.cmd("import -m 'from a pipe' - piped"));
        INFO(piped.output);
        REQUIRE(piped.exit_code == 0);
        CHECK(s.config("piped:latest")["history"][0]["comment"] == "from a pipe");
        CHECK(s.config("piped:latest")["rootfs"]["diff_ids"] == config["rootfs"]["diff_ids"]);
    }
    SECTION("with --compression zstd: the same files, in a zstd blob") {
        REQUIRE(s.strata("import --compression zstd " + quote(tar.string()) + " zstd-imported").exit_code == 0);
        CHECK(s.manifest("zstd-imported:latest")["layers"][0]["mediaType"] == "application/vnd.oci.image.layer.v1.tar+zstd");
        CHECK(s.config("zstd-imported:latest")["rootfs"]["diff_ids"] == config["rootfs"]["diff_ids"]);
        CHECK(s.strata_stdout("run zstd-imported /bin/cat /data/opaque/new").output == "new\n");
    }
}

TEST_CASE("import refuses hostile archives by entry name and tags nothing", "[integration][import]") {
    auto& s = store();
    ScratchDir dir;
    for (const auto& [archive, entry] : make_hostile_archives(dir.path())) {
        INFO(archive);
        const auto r = s.strata("import " + quote((dir.path() / archive).string()) + " hostile");
        INFO(r.output);
        CHECK(r.exit_code == 1);
        CHECK(r.output.find("strata: error: importing '") != std::string::npos);
        CHECK(r.output.find("tar entry '" + entry + "'") != std::string::npos);
    }
    CHECK(s.strata_stdout("images").output.find("hostile") == std::string::npos);
    CHECK_FALSE(fs::exists("/evil"));
    CHECK_FALSE(fs::exists("/tmp/evil"));
    CHECK(sh("find " + quote(dir.path().string()) + " " + quote(s.root.string()) + " -name evil").output.empty());
}

TEST_CASE("export refuses to write a tar to a terminal", "[integration][export]") {
    auto& s = store();
    if (!installed("script")) {
        WARN("script (util-linux) is not installed: no terminal to test with");
        return;
    }
    // script runs the command with a pseudo-terminal as its stdout.
    const auto r = sh("script -qec " + quote(s.cmd("export busybox")) + " /dev/null");
    CHECK(r.exit_code == 1);
    CHECK(r.output.find("refusing to write a tar to a terminal") != std::string::npos);
}

TEST_CASE("diff shows what RUN steps added, deleted, chmodded and rewrote", "[integration][diff]") {
    auto& s = store();
    const auto r = s.build("FROM busybox\n"
                           "RUN mkdir /d && echo hello > /d/same-size && echo bye > /d/gone && echo x > /d/mode"
                           " && echo keep > /d/keep\n"
                           "RUN echo HELLO > /d/same-size && rm /d/gone && chmod 700 /d/mode && echo new > /d/added\n",
                           "-t diffed");
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    const std::string last_step = "A /d/added (4 bytes)\n"
                                  "D /d/gone (4 bytes)\n"
                                  "C /d/mode (2 bytes; mode 0644 -> 0700)\n"
                                  "C /d/same-size (6 bytes; content)\n";
    // One image: against itself without its top layer, the last RUN.
    const auto against_base = s.strata_stdout("diff diffed");
    CHECK(against_base.exit_code == 0);
    CHECK(against_base.output == last_step);
    // Two images: everything the build added over busybox.
    const auto over_busybox = s.strata_stdout("diff busybox diffed");
    CHECK(over_busybox.output == "A /d (directory)\n"
                                 "A /d/added (4 bytes)\n"
                                 "A /d/keep (5 bytes)\n"
                                 "A /d/mode (2 bytes)\n"
                                 "A /d/same-size (6 bytes)\n");
    CHECK(s.strata_stdout("diff diffed busybox").output.find("D /d/keep (5 bytes)\n") != std::string::npos);
    CHECK(s.strata_stdout("diff busybox busybox").output.empty());

    const auto as_json = s.strata_stdout("diff --format json diffed");
    REQUIRE(as_json.exit_code == 0);
    const auto changes = nlohmann::json::parse(as_json.output)["changes"];
    REQUIRE(changes.size() == 4);
    CHECK(changes[3]["path"] == "/d/same-size");
    CHECK(changes[3]["changed"] == nlohmann::json::array({"content"}));
    CHECK(changes[2]["before"]["mode"] == "0644");
    CHECK(changes[2]["after"]["mode"] == "0700");
}

} // namespace export_import_diff_test
