// Reproducible builds through the real binary: with SOURCE_DATE_EPOCH the same Buildfile
// and context give the same manifest digest in another store, from another context path,
// later and with another --jobs; without it only the times differ; and
// `build --check-reproducible` names the first file a nondeterministic step changes.
#include "store/store.hpp"
#include "tests/common/shell.hpp"
#include "util/sha256.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <memory>
#include <thread>
#include <vector>

namespace reproducible_test {  // this file's own names: a folder's tests compile as unity batches

using namespace strata::test;
namespace fs = std::filesystem;

namespace {

constexpr long long epoch = 1700000000;               // 2023-11-14 22:13:20 UTC
constexpr const char* epoch_tar_time = "2023-11-14 22:13:20";  // as `tar --full-time` prints it in UTC

// A store with a busybox base built with SOURCE_DATE_EPOCH, so that two such stores hold
// the same base (itself a check: the busybox build is reproducible too).
struct EpochStore {
    ScratchDir dir{"strata-repro-"};
    fs::path root = dir.path() / "root";
    std::string busybox;  // its digest

    EpochStore() {
        const fs::path context = dir.path() / "busybox";
        fs::copy(fs::path(STRATA_SOURCE_DIR) / "examples" / "busybox", context, fs::copy_options::recursive);
        fs::copy_file("/bin/busybox", context / "busybox", fs::copy_options::overwrite_existing);
        const auto r = run("build -q -t busybox " + quote(context.string()), "SOURCE_DATE_EPOCH=" + std::to_string(epoch));
        INFO(r.output);
        REQUIRE(r.exit_code == 0);
        busybox = last_line(r.output);
    }

    std::string cmd(const std::string& args) const {
        return quote(STRATA_BINARY) + " --root " + quote(root.string()) + " " + args;
    }
    // stdout only: the digest a -q build prints.
    CommandResult run(const std::string& args, const std::string& env = "") const { return sh_stdout(env + " " + cmd(args)); }
    CommandResult run_all(const std::string& args, const std::string& env = "") const { return sh(env + " " + cmd(args)); }

    // Builds a context and returns the digest (REQUIREs success).
    std::string build(const fs::path& context, const std::string& flags, const std::string& env = "") const {
        const auto r = run("build -q " + flags + " " + quote(context.string()), env);
        INFO(r.output);
        REQUIRE(r.exit_code == 0);
        return last_line(r.output);
    }

    strata::store::Image image(const std::string& reference) const {
        strata::store::Store store(root);
        const auto manifest = store.resolve(reference);
        REQUIRE(manifest);
        return store.load_image(*manifest);
    }
    fs::path blob(const std::string& digest) const { return root / "oci" / "blobs" / "sha256" / digest.substr(7); }

    static std::string last_line(const std::string& text) {
        const auto end = text.find_last_not_of('\n');
        if (end == std::string::npos) return "";
        const auto start = text.rfind('\n', end);
        return text.substr(start == std::string::npos ? 0 : start + 1, end - (start == std::string::npos ? 0 : start + 1) + 1);
    }
};

// A multi-stage Buildfile whose RUN steps make files, directories, a hard link, a symlink
// and a fifo, and copy the context: every kind of entry gets a fresh mtime.
const char* multi_stage_buildfile = R"(FROM busybox AS one
RUN mkdir -p /out/sub && echo one > /out/a && ln /out/a /out/b && ln -s a /out/c && mkfifo /out/p
FROM busybox AS two
COPY src/ /src/
RUN cat /src/x /src/y > /joined && touch /tmp/stamp
FROM busybox
COPY --from=one /out /out
COPY --from=two /joined /joined
RUN echo done > /done
ENV GREETING=hi
CMD ["/bin/sh"]
)";

void write_context(const fs::path& dir) {
    write_text(dir / "Buildfile", multi_stage_buildfile);
    write_text(dir / "src" / "x", "x\n");
    write_text(dir / "src" / "y", "y\n");
}

void sleep_past_a_second() { std::this_thread::sleep_for(std::chrono::milliseconds(1100)); }

// `tar --full-time -tv` of a layer blob, in UTC: one line per entry.
std::vector<std::string> tar_listing(const fs::path& blob) {
    const auto r = sh_stdout("TZ=UTC tar --numeric-owner --full-time -tvf " + quote(blob.string()));
    REQUIRE(r.exit_code == 0);
    std::vector<std::string> lines;
    std::istringstream in(r.output);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

struct ArchiveFree {
    void operator()(archive* a) const noexcept { archive_read_free(a); }
};

// Every fact of each entry of a layer except its mtime, and whether the header carries what
// it must not (names, atime, ctime): what two builds without SOURCE_DATE_EPOCH must share.
std::vector<std::string> entries_without_mtime(const fs::path& blob) {
    std::unique_ptr<archive, ArchiveFree> a(archive_read_new());
    archive_read_support_filter_all(a.get());
    archive_read_support_format_tar(a.get());
    REQUIRE(archive_read_open_filename(a.get(), blob.c_str(), 65536) == ARCHIVE_OK);
    std::vector<std::string> out;
    archive_entry* e = nullptr;
    while (archive_read_next_header(a.get(), &e) == ARCHIVE_OK) {
        CHECK(std::string(archive_entry_uname(e) ? archive_entry_uname(e) : "").empty());
        CHECK(std::string(archive_entry_gname(e) ? archive_entry_gname(e) : "").empty());
        CHECK_FALSE(archive_entry_atime_is_set(e));
        CHECK_FALSE(archive_entry_ctime_is_set(e));
        CHECK(archive_entry_mtime_nsec(e) == 0);
        strata::Sha256 data;
        const void* block = nullptr;
        std::size_t size = 0;
        la_int64_t offset = 0;
        while (archive_read_data_block(a.get(), &block, &size, &offset) == ARCHIVE_OK) data.update(block, size);
        const char* link = archive_entry_hardlink(e);
        const char* target = archive_entry_symlink(e);
        out.push_back(std::string(archive_entry_pathname(e)) + " " + std::to_string(archive_entry_mode(e)) + " " +
                      std::to_string(archive_entry_uid(e)) + ":" + std::to_string(archive_entry_gid(e)) + " " +
                      std::to_string(archive_entry_size(e)) + " h=" + (link ? link : "") + " s=" + (target ? target : "") +
                      " " + data.hex());
    }
    return out;
}

// The config without the fields that say when: `created`, each history entry's, and the
// diff ids (the layers' mtimes are in them; the layers are compared without them).
nlohmann::json timeless(nlohmann::json config) {
    config.erase("created");
    config.erase("rootfs");
    for (auto& entry : config["history"]) entry.erase("created");
    return config;
}

} // namespace

TEST_CASE("with SOURCE_DATE_EPOCH a build gives one digest across stores, context paths, times and --jobs",
          "[integration][reproducible]") {
    EpochStore a, b;
    REQUIRE(a.busybox == b.busybox);  // the FROM scratch base is reproducible itself
    ScratchDir first_context, second_context;
    write_context(first_context.path());
    // A warm cache without the epoch must not stand in for the clamped layers.
    const std::string unclamped = a.build(first_context.path(), "-t app");
    sleep_past_a_second();
    const std::string in_a = a.build(first_context.path(), "-t app -j 1", "SOURCE_DATE_EPOCH=" + std::to_string(epoch));
    sleep_past_a_second();
    write_context(second_context.path());  // other paths, other mtimes
    const std::string in_b = b.build(second_context.path(), "-t app -j 4 --source-date-epoch " + std::to_string(epoch));
    CHECK(in_a == in_b);
    CHECK(unclamped != in_a);
    // The flag wins over the environment.
    sleep_past_a_second();
    CHECK(b.build(second_context.path(), "-t app2 --source-date-epoch " + std::to_string(epoch), "SOURCE_DATE_EPOCH=5") == in_b);

    // Every entry the steps wrote is clamped to the epoch, and the image says it was made then.
    const auto image = b.image("app");
    CHECK(image.config["created"] == "2023-11-14T22:13:20Z");
    const auto layers = image.layers();
    const auto base_layers = b.image("busybox").layers().size();
    REQUIRE(layers.size() == base_layers + 3);  // COPY --from one, COPY --from two, RUN
    std::size_t entries = 0;
    for (std::size_t i = base_layers; i < layers.size(); ++i)
        for (const auto& line : tar_listing(b.blob(layers[i].digest))) {
            INFO(line);
            CHECK(line.find(epoch_tar_time) != std::string::npos);
            ++entries;
        }
    CHECK(entries >= 6);  // out/ a b c p sub, joined, done
    // The fifo the RUN made is copied as a fifo.
    std::string out_layer;
    for (const auto& line : tar_listing(b.blob(layers[base_layers].digest))) out_layer += line + "\n";
    INFO(out_layer);
    CHECK(out_layer.find("prw-r--r-- 0/0               0 2023-11-14 22:13:20 out/p") != std::string::npos);
}

TEST_CASE("without SOURCE_DATE_EPOCH only times differ, and a cached rebuild keeps the digest",
          "[integration][reproducible]") {
    EpochStore a, b;
    REQUIRE(a.busybox == b.busybox);
    ScratchDir first_context, second_context;
    write_context(first_context.path());
    write_context(second_context.path());
    const std::string in_a = a.build(first_context.path(), "-t app");
    sleep_past_a_second();
    const std::string in_b = b.build(second_context.path(), "-t app");

    const auto ia = a.image("app"), ib = b.image("app");
    // The configs agree but for when; no host path (store, context) is recorded.
    CHECK(timeless(ia.config) == timeless(ib.config));
    const std::string config_text = ia.config.dump();
    CHECK(config_text.find(first_context.path().string()) == std::string::npos);
    CHECK(config_text.find(a.root.string()) == std::string::npos);
    CHECK(config_text.find("strata-repro-") == std::string::npos);
    // The layers agree entry for entry but for mtimes.
    const auto la = ia.layers(), lb = ib.layers();
    REQUIRE(la.size() == lb.size());
    for (std::size_t i = 0; i < la.size(); ++i) {
        INFO("layer " << i);
        CHECK(entries_without_mtime(a.blob(la[i].digest)) == entries_without_mtime(b.blob(lb[i].digest)));
        // gzip header: no file name (FLG 0), mtime 0.
        const std::string head = read_text(a.blob(la[i].digest)).substr(0, 8);
        CHECK(head == std::string("\x1f\x8b\x08\x00\x00\x00\x00\x00", 8));
    }

    // A fully cached rebuild, later, gives the same digest: `created` is when the steps ran.
    sleep_past_a_second();
    CHECK(a.build(first_context.path(), "-t app") == in_a);
    CHECK(a.image("app").config["created"] == ia.config["created"]);
    // An epoch older than the base clamps the base's time too, as every time of the build.
    a.build(first_context.path(), "-t old --source-date-epoch 1234");
    const auto old = a.image("old");
    CHECK(old.config["created"] == "1970-01-01T00:20:34Z");
    CHECK(old.config["history"].back()["created"] == "1970-01-01T00:20:34Z");
}

TEST_CASE("build --check-reproducible names the file a nondeterministic RUN writes", "[integration][reproducible]") {
    EpochStore s;
    ScratchDir context;
    SECTION("a nondeterministic step fails the check, naming its layer and file") {
        // busybox's date has no %N: the sleep puts the second build's date in another second.
        write_text(context.path() / "Buildfile", "FROM busybox\nRUN echo same > /same\nRUN date +%s%N > f && sleep 1\n");
        const auto r = s.run_all("build -q --check-reproducible " + quote(context.path().string()));
        INFO(r.output);
        CHECK(r.exit_code == 1);
        CHECK(r.output.find("strata: error: the build is not reproducible") != std::string::npos);
        CHECK(r.output.find("(RUN date +%s%N > f && sleep 1): first differing file: f (content)") != std::string::npos);
    }
    SECTION("a deterministic multi-stage build passes, prints its digest and stores nothing") {
        write_context(context.path());
        const auto images_before = s.run("images -q");
        const auto r = s.run("build --check-reproducible " + quote(context.path().string()));
        INFO(r.output);
        REQUIRE(r.exit_code == 0);
        const std::string digest = EpochStore::last_line(r.output);
        CHECK(digest.rfind("sha256:", 0) == 0);
        CHECK(s.run("images -q").output == images_before.output);
        // The digest is the one a build with SOURCE_DATE_EPOCH=0 gives in this store.
        CHECK(s.build(context.path(), "--source-date-epoch 0") == digest);
    }
    SECTION("the epoch is taken from the environment when given") {
        write_text(context.path() / "Buildfile", "FROM busybox\nRUN touch /x\n");
        const auto r = s.run("build --check-reproducible " + quote(context.path().string()), "SOURCE_DATE_EPOCH=1234");
        REQUIRE(r.exit_code == 0);
        CHECK(EpochStore::last_line(r.output) == s.build(context.path(), "", "SOURCE_DATE_EPOCH=1234"));
    }
}

TEST_CASE("another --compression re-encodes cached layers: same diff ids, no step run again",
          "[integration][reproducible][compression]") {
    EpochStore s;
    ScratchDir context;
    // Were this step run again, its file (and the diff id) would change.
    write_text(context.path() / "Buildfile", "FROM busybox\nRUN date +%s > /when && sleep 1\n");
    const std::string gzip_digest = s.build(context.path(), "-t g");
    const auto zstd = s.run_all("build --progress plain --compression zstd -t z " + quote(context.path().string()));
    INFO(zstd.output);
    REQUIRE(zstd.exit_code == 0);
    CHECK(zstd.output.find("RUN date +%s > /when && sleep 1\n#2 CACHED") != std::string::npos);
    const auto g = s.image("g"), z = s.image("z");
    CHECK(g.diff_ids() == z.diff_ids());
    const auto top = z.layers().back();
    CHECK(top.media_type == "application/vnd.oci.image.layer.v1.tar+zstd");
    CHECK(top.annotations.at("io.strata.layer.compression") == "zstd;level=3");
    // The pair is remembered: back to gzip gives the first image, zstd again the second.
    CHECK(s.build(context.path(), "-t g2") == gzip_digest);
    CHECK(s.build(context.path(), "--compression zstd -t z2") == s.build(context.path(), "--compression zstd -t z3"));
    CHECK(fs::exists(s.root / "records" / "layer-blobs" / (z.diff_ids().back().substr(7) + "-zstd-3.json")));
}

} // namespace reproducible_test
