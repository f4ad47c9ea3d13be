// The build cache against a fake executor: the context stat cache, portable keys, cache
// records that are corrupt or old, and `--explain`'s reasons.
#include "builder/builder.hpp"
#include "builder/cache.hpp"
#include "builder/context_hashes.hpp"
#include "builder/explain.hpp"
#include "store/gc.hpp"
#include "tests/common/build_fixture.hpp"
#include "tests/common/shell.hpp"
#include "util/fs.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <fcntl.h>
#include <sstream>
#include <sys/stat.h>
#include <thread>

namespace cache_test {  // this file's own names: a folder's tests compile as unity batches

using namespace strata;
using namespace strata::builder;
using strata::test::count_occurrences;
using strata::test::ScratchDir;
using strata::test::write_text;
using json = nlohmann::json;

namespace {

class FakeExecutor final : public Executor {
public:
    int runs = 0;
    sandbox::Result run(const sandbox::Spec& spec) override {
        ++runs;
        // Like a real RUN, what it writes depends on its command and environment.
        std::string content;
        for (const auto& a : spec.argv) content += a + "\n";
        for (const auto& e : spec.env) content += e + "\n";
        write_text(spec.upper_dir / "made-by-run", content);
        return {};
    }
};

// The kernel stamps ctime from a coarse clock: a file written in the same tick as the scan
// starts is not trusted to the stat cache (it is hashed again next time). Tests that check
// reuse let the files age past that tick first.
void let_files_age() { std::this_thread::sleep_for(std::chrono::milliseconds(50)); }

struct Fixture : test::BuildFixture<FakeExecutor> {
    std::string buildfile_name = "Buildfile";  // a step's history is per Buildfile path

    std::string build(const std::string& buildfile, std::map<std::string, std::string> args = {},
                      const std::vector<std::string>& tags = {"t"}, bool no_cache = false) {
        write_text(dir.path() / buildfile_name, buildfile);
        options.buildfile_path = dir.path() / buildfile_name;
        options.tags = tags;
        options.build_args = std::move(args);
        options.explain = true;
        options.no_cache = no_cache;
        build_with_options(buildfile);
        return progress.str();
    }
};

// The explanation printed for the step whose heading contains `step`.
std::string reason(const std::string& output, const std::string& step) {
    std::istringstream lines(output);
    for (std::string line; std::getline(lines, line);)
        if (line.rfind("explain: ", 0) == 0 && line.find(step) != std::string::npos) return line.substr(line.find("] ") + 2);
    return "";
}

void set_file_mtime(const fs::path& path, long long seconds) {
    const struct timespec t = {seconds, 0};
    const struct timespec times[2] = {t, t};
    REQUIRE(::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW) == 0);
}

long long mtime_of(const fs::path& path) {
    struct stat st {};
    REQUIRE(::lstat(path.c_str(), &st) == 0);
    return st.st_mtim.tv_sec;
}

CopySource tree_source(const fs::path& root, const std::string& rel) { return {rel, root / rel, rel, true, rel}; }

} // namespace

TEST_CASE("the stat cache reads a context file again only when its stat changed, ctime included", "[cache]") {
    ScratchDir dir;
    store::Store store(dir.path() / "root");
    const fs::path context = dir.path() / "ctx";
    write_text(context / "src" / "a.txt", "alpha\n");
    write_text(context / "src" / "b.txt", "bravo\n");
    write_text(context / "src" / "deep" / "c.txt", "charlie\n");
    let_files_age();
    const CopySource src = tree_source(context, "src");
    std::string first;
    {
        ContextHashes hashes(store, context);
        first = hashes.digest(src, {});
        CHECK(first == hash_source(src));  // the same tree digest as without a cache
        CHECK(hashes.stats().files_read == 3);
        hashes.save();
    }
    {
        ContextHashes hashes(store, context);
        CHECK(hashes.digest(src, {}) == first);
        CHECK(hashes.stats().files_read == 0);
        CHECK(hashes.stats().files_reused == 3);
    }
    // Same length, same inode, mtime set back to the nanosecond: only ctime tells.
    struct stat old {};
    REQUIRE(::lstat((context / "src" / "b.txt").c_str(), &old) == 0);
    write_text(context / "src" / "b.txt", "BRAVO\n");
    const struct timespec times[2] = {old.st_atim, old.st_mtim};
    REQUIRE(::utimensat(AT_FDCWD, (context / "src" / "b.txt").c_str(), times, 0) == 0);
    struct stat now {};
    REQUIRE(::lstat((context / "src" / "b.txt").c_str(), &now) == 0);
    REQUIRE(now.st_ino == old.st_ino);
    REQUIRE(now.st_size == old.st_size);
    REQUIRE(now.st_mtim.tv_nsec == old.st_mtim.tv_nsec);
    {
        ContextHashes hashes(store, context);
        const std::string changed = hashes.digest(src, {});
        CHECK(changed != first);
        CHECK(changed == hash_source(src));
        CHECK(hashes.stats().files_read == 1);
        CHECK(hashes.stats().files_reused == 2);
        hashes.save();
    }
    SECTION("a corrupt stat cache is ignored and rebuilt") {
        const fs::path caches = dir.path() / "root" / "local" / "context-stat";
        for (const auto& e : fs::directory_iterator(caches)) {
            std::string bytes = strata::read_file(e.path());
            bytes[bytes.size() / 2] ^= 0x55;
            write_text(e.path(), bytes);
        }
        ContextHashes hashes(store, context);
        CHECK(hashes.digest(src, {}) == hash_source(src));
        CHECK(hashes.stats().files_read == 3);
    }
    SECTION("a truncated or foreign stat cache is ignored") {
        const fs::path caches = dir.path() / "root" / "local" / "context-stat";
        for (const auto& e : fs::directory_iterator(caches)) write_text(e.path(), "STRSTAT9");
        ContextHashes hashes(store, context);
        CHECK(hashes.digest(src, {}) == hash_source(src));
        CHECK(hashes.stats().files_read == 3);
    }
    SECTION("another context directory has its own stat cache") {
        const fs::path other = dir.path() / "other";
        fs::copy(context, other, fs::copy_options::recursive);
        ContextHashes hashes(store, other);
        CHECK(hashes.digest(tree_source(other, "src"), {}) == hash_source(src));  // portable: same digest
        CHECK(hashes.stats().files_read == 3);
    }
}

TEST_CASE("a stage's files are always read, never taken from the context's stat cache", "[cache]") {
    ScratchDir dir;
    store::Store store(dir.path() / "root");
    const fs::path context = dir.path() / "ctx";
    const fs::path stage_root = dir.path() / "stage";
    write_text(context / "f", "x");
    write_text(stage_root / "f", "x");
    let_files_age();
    ContextHashes hashes(store, context);
    CopySource in_stage{"f", stage_root / "f", "f", false, "f"};
    hashes.digest(in_stage, {});
    hashes.digest(in_stage, {});
    CHECK(hashes.stats().files_read == 2);
    CHECK(hashes.stats().files_reused == 0);
}

TEST_CASE("with an octal --chmod the source's own mode is not part of the digest", "[cache]") {
    ScratchDir dir;
    write_text(dir.path() / "t" / "f", "one");
    const CopySource tree = tree_source(dir.path(), "t");
    ContextHashes hashes;
    const HashOptions octal = hash_options_for_chmod("0644");
    CHECK_FALSE(octal.include_mode);
    CHECK(hash_options_for_chmod("u+x").include_mode);
    CHECK(hash_options_for_chmod("").include_mode);
    const std::string with_mode = hashes.digest(tree, {});
    const std::string without_mode = hashes.digest(tree, {}, octal);
    REQUIRE(::chmod((dir.path() / "t" / "f").c_str(), 0700) == 0);
    CHECK(hashes.digest(tree, {}) != with_mode);
    CHECK(hashes.digest(tree, {}, octal) == without_mode);
    write_text(dir.path() / "t" / "f", "two");
    CHECK(hashes.digest(tree, {}, octal) != without_mode);  // content still counts
}

TEST_CASE("listing() gives the entries behind a digest, and their first difference reads well", "[cache]") {
    ScratchDir dir;
    write_text(dir.path() / "t" / "a", "1");
    write_text(dir.path() / "t" / "sub" / "b", "2");
    fs::create_symlink("a", dir.path() / "t" / "link");
    ContextHashes hashes;
    const auto before = hashes.listing(hashes.digest(tree_source(dir.path(), "t"), {}));
    REQUIRE(before);
    REQUIRE(before->size() == 5);  // t, t/a, t/link, t/sub, t/sub/b
    CHECK((*before)[0].path == "t");
    CHECK((*before)[1].path == "t/a");
    CHECK((*before)[1].description.rfind("f0644 ", 0) == 0);
    CHECK((*before)[2].description == "l0777 -> a");
    CHECK_FALSE(hashes.listing("sha256:unknown"));

    write_text(dir.path() / "t" / "sub" / "b", "3");
    write_text(dir.path() / "t" / "new", "n");
    const auto after = hashes.listing(hashes.digest(tree_source(dir.path(), "t"), {}));
    REQUIRE(after);
    CHECK(describe_listing_change(*before, *after) == "file t/new added (and 1 more)");
    CHECK(describe_listing_change(*after, *before) == "file t/sub/b changed (and 1 more)");
    std::vector<ListingEntry> mode_changed = *before;
    mode_changed[1].description.replace(1, 4, "0755");
    CHECK(describe_listing_change(*before, mode_changed) == "mode of file t/a changed (was 0644, now 0755)");
    std::vector<ListingEntry> removed(before->begin(), before->end() - 1);
    CHECK(describe_listing_change(*before, removed) == "file t/sub/b removed");
}

TEST_CASE("cache_lookup treats a corrupt, old or incomplete record as a miss", "[cache]") {
    ScratchDir dir;
    store::Store store(dir.path() / "root");
    const json step = {{"op", "run"}, {"argv", {"true"}}};
    const std::string key = cache_key(step);
    CHECK_FALSE(cache_lookup(store, key));
    cache_remember(store, key, step, StepOutput{std::nullopt, "", "", "2020-01-01T00:00:00Z"});
    REQUIRE(cache_lookup(store, key));

    const fs::path file = dir.path() / "root" / "records" / "steps" / (key + ".json");
    write_text(file, "{not json");
    CHECK_FALSE(cache_lookup(store, key));
    store.put_record("steps", key, {{"v", 0}, {"output", {{"chain_id", ""}, {"created", "x"}}}});
    CHECK_FALSE(cache_lookup(store, key));  // another schema version
    store.put_record("steps", key, {{"v", cache_schema_version}, {"output", {{"created", 7}}}});
    CHECK_FALSE(cache_lookup(store, key));
    store.put_record("steps", key, {{"v", cache_schema_version}, {"output", {{"chain_id", "sha256:../x"}, {"created", "x"}}}});
    CHECK_FALSE(cache_lookup(store, key));
    // A layer whose blob is gone.
    store.put_record("steps", key,
                     {{"v", cache_schema_version},
                      {"output",
                       {{"chain_id", "sha256:" + std::string(64, 'a')},
                        {"created", "x"},
                        {"diff_id", "sha256:" + std::string(64, 'a')},
                        {"layer", {{"mediaType", "application/vnd.oci.image.layer.v1.tar+gzip"},
                                   {"digest", "sha256:" + std::string(64, 'b')},
                                   {"size", 1}}}}}});
    CHECK_FALSE(cache_lookup(store, key));
}

TEST_CASE("a hit marks its record used; remembered records name what they keep alive", "[cache]") {
    Fixture f;
    write_text(f.context / "f", "x");
    f.build("FROM scratch\nCOPY f /f\n");
    const auto records = store::list_records(f.store, cache_records_namespace);
    REQUIRE(records.size() == 1);
    CHECK(records[0].blobs.size() == 1);
    CHECK(records[0].snapshots.size() == 1);
    CHECK(f.store.has_snapshot(records[0].snapshots[0]));
    const fs::path file = f.dir.path() / "root" / "records" / "steps" / (records[0].key + ".json");
    set_file_mtime(file, 1000000000);
    CHECK(count_occurrences(f.build("FROM scratch\nCOPY f /f\n"), "CACHED") == 1);
    CHECK(mtime_of(file) > 1000000000 + 86400);
}

TEST_CASE("--explain names the first input that differs from the last build of the step", "[cache][explain]") {
    Fixture f;
    write_text(f.context / "app" / "x.c", "int x;\n");
    write_text(f.context / "app" / "y.c", "int y;\n");
    const std::string buildfile = "FROM scratch\nARG V=1\nCOPY app /app\nRUN make $V\nRUN test\n";
    const std::string first = f.build(buildfile);
    CHECK(reason(first, "COPY app /app") == "COPY app /app: no earlier build of this step");
    CHECK(reason(f.build(buildfile), "COPY") == "");  // all cached: nothing to explain

    SECTION("a changed file") {
        write_text(f.context / "app" / "y.c", "int why;\n");
        const std::string out = f.build(buildfile);
        CHECK(reason(out, "COPY app /app") == "COPY app /app: file app/y.c changed");
        CHECK(reason(out, "RUN make $V") ==
              "RUN make $V: parent layer changed (an earlier step missed: [stage-0 3] COPY app /app)");
    }
    SECTION("an added file") {
        write_text(f.context / "app" / "z.c", "int z;\n");
        CHECK(reason(f.build(buildfile), "COPY app /app") == "COPY app /app: file app/z.c added");
    }
    SECTION("an ARG") {
        const std::string out = f.build(buildfile, {{"V", "2"}});
        CHECK(reason(out, "COPY") == "");
        CHECK(reason(out, "RUN make $V") == "RUN make $V: ARG/env V changed (was 1, now 2)");
    }
    SECTION("the command") {
        const std::string out = f.build("FROM scratch\nARG V=1\nCOPY app /app\nRUN make -j2 $V\nRUN test\n");
        CHECK(reason(out, "RUN make -j2 $V") == "RUN make -j2 $V: command changed");
    }
    SECTION("--no-cache") {
        const std::string out = f.build(buildfile, {}, {"t"}, true);
        CHECK(reason(out, "COPY app /app") == "COPY app /app: the cache is off (--no-cache)");
    }
    SECTION("a pruned result") {
        store::PruneOptions options;
        options.namespaces = {cache_records_namespace};
        options.all = true;
        store::prune(f.store, options);
        CHECK(reason(f.build(buildfile), "COPY app /app") ==
              "COPY app /app: same inputs as the last build, but its cached result is gone (pruned?)");
    }
    SECTION("a moved base image") {
        f.buildfile_name = "base.Buildfile";
        f.build("FROM scratch\nRUN base-one\n", {}, {"base"});
        f.buildfile_name = "child.Buildfile";
        const std::string child = "FROM base\nRUN child\n";
        f.build(child);
        f.buildfile_name = "base.Buildfile";
        f.build("FROM scratch\nRUN base-two\n", {}, {"base"});
        f.buildfile_name = "child.Buildfile";
        CHECK(reason(f.build(child), "RUN child") == "RUN child: base image moved (base is not what the last build used)");
    }
}

TEST_CASE("--explain keys steps by Buildfile, stage and step number", "[cache][explain]") {
    Fixture f;
    write_text(f.context / "a", "1");
    f.build("FROM scratch AS one\nCOPY a /a\nFROM one AS two\nCOPY a /b\n");
    write_text(f.context / "a", "2");
    const std::string out = f.build("FROM scratch AS one\nCOPY a /a\nFROM one AS two\nCOPY a /b\n");
    CHECK(reason(out, "COPY a /a") == "COPY a /a: file a changed");
    CHECK(reason(out, "COPY a /b") == "COPY a /b: file a changed");
    // A step at a place no build used before has no history.
    const std::string moved = f.build("FROM scratch AS one\nCOPY a /a\nCOPY a /c\n");
    CHECK(reason(moved, "COPY a /c") == "COPY a /c: no earlier build of this step");
}

} // namespace cache_test
