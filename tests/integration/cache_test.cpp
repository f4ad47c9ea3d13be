// The build cache through the real binary: the context stat cache, keys shared across
// checkouts, --explain, strata du and strata prune (and its lock against running builds).
#include "tests/common/busybox_store.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <memory>
#include <set>
#include <thread>

namespace cache_test {  // this file's own names: a folder's tests compile as unity batches

using namespace strata::test;
namespace fs = std::filesystem;

namespace {


// The busybox store, plus what these tests look at: builds of a given context and the snapshots.
struct CacheStore : BusyboxStore {
    CommandResult build(const fs::path& context, const std::string& args = "") const {
        return strata("build --progress plain " + args + " " + quote(context.string()));
    }
    std::set<std::string> snapshots() const {
        std::set<std::string> out;
        for (const auto& e : fs::directory_iterator(root / "snapshots")) out.insert(e.path().filename().string());
        return out;
    }
};

struct ThisFile;
CacheStore& cache_store() { return file_store<ThisFile, CacheStore>(); }

// The kernel stamps ctime from a coarse clock; files written in the tick a build starts
// are hashed again by the next build. Let them age past it so the stat cache is used.
void let_files_age() { std::this_thread::sleep_for(std::chrono::milliseconds(50)); }

// "explain: [stage-0 3/4] COPY app /app: file app/a.txt changed" -> "file app/a.txt changed"
std::string reason(const std::string& output, const std::string& step) {
    std::istringstream lines(output);
    for (std::string line; std::getline(lines, line);) {
        if (line.rfind("explain: ", 0) != 0) continue;
        const auto at = line.find("] " + step + ": ");
        if (at != std::string::npos) return line.substr(at + 2 + step.size() + 2);
    }
    return "";
}

std::string last_line(const std::string& text) {
    const auto end = text.find_last_not_of('\n');
    if (end == std::string::npos) return "";
    const auto start = text.rfind('\n', end);
    const auto from = start == std::string::npos ? 0 : start + 1;
    return text.substr(from, end - from + 1);
}

// The counts of the "Build cache" row of `strata du`: {TOTAL, ACTIVE}.
std::pair<int, int> build_cache_row(const std::string& du) {
    std::istringstream lines(du);
    for (std::string line; std::getline(lines, line);) {
        if (line.rfind("Build cache ", 0) != 0 || line.find("only cache records keep") != std::string::npos) continue;
        std::istringstream fields(line.substr(std::string("Build cache").size()));
        int total = -1, active = -1;
        fields >> total >> active;
        return {total, active};
    }
    return {-1, -1};
}

} // namespace

TEST_CASE("a same-length edit with its mtime set back is still seen: COPY misses and copies it", "[integration][cache]") {
    auto& s = cache_store();
    ScratchDir ctx;
    write_text(ctx.path() / "Buildfile", "FROM busybox\nCOPY app /app\n");
    write_text(ctx.path() / "app" / "a.txt", "one\n");
    let_files_age();
    REQUIRE(s.build(ctx.path(), "-t stat-edit").exit_code == 0);
    const auto again = s.build(ctx.path(), "-t stat-edit");
    REQUIRE(again.exit_code == 0);
    CHECK(count_occurrences(again.output, "CACHED") == 1);  // the stat cache answered

    REQUIRE(sh("touch -r " + quote((ctx.path() / "app" / "a.txt").string()) + " " + quote((ctx.path() / "ref").string())).exit_code == 0);
    write_text(ctx.path() / "app" / "a.txt", "two\n");  // same size
    REQUIRE(sh("touch -r " + quote((ctx.path() / "ref").string()) + " " + quote((ctx.path() / "app" / "a.txt").string())).exit_code == 0);
    const auto edited = s.build(ctx.path(), "-t stat-edit");
    INFO(edited.output);
    REQUIRE(edited.exit_code == 0);
    CHECK(count_occurrences(edited.output, "CACHED") == 0);
    CHECK(s.strata("run stat-edit cat /app/a.txt").output == "two\n");
}

TEST_CASE("two checkouts in different directories with different mtimes share the cache", "[integration][cache]") {
    auto& s = cache_store();
    ScratchDir a, b;
    for (const auto* dir : {&a, &b}) {
        write_text(dir->path() / "Buildfile", "FROM busybox\nCOPY src /src\nRUN cat /src/main.c > /built\n");
        write_text(dir->path() / "src" / "main.c", "int main() { return 0; }\n");
        write_text(dir->path() / "src" / "lib" / "util.c", "int util;\n");
    }
    REQUIRE(sh("touch -d '2001-02-03 04:05:06' " + quote((b.path() / "src" / "main.c").string())).exit_code == 0);
    const auto first = s.build(a.path(), "-t checkout-a");
    INFO(first.output);
    REQUIRE(first.exit_code == 0);
    const auto second = s.build(b.path(), "-t checkout-b");
    INFO(second.output);
    REQUIRE(second.exit_code == 0);
    CHECK(count_occurrences(second.output, "CACHED") == 2);
    CHECK(last_line(second.output) == last_line(first.output));  // the very same image
}

TEST_CASE("build --explain names why each step missed", "[integration][cache][explain]") {
    auto& s = cache_store();
    ScratchDir ctx;
    const fs::path buildfile = ctx.path() / "Buildfile";
    write_text(buildfile, "FROM busybox\nARG V=1\nCOPY app /app\nRUN echo $V > /v\nRUN cat /app/a.txt > /copy\n");
    write_text(ctx.path() / "app" / "a.txt", "explained\n");  // content no other test copies
    const auto first = s.build(ctx.path(), "--explain -t explained");
    INFO(first.output);
    REQUIRE(first.exit_code == 0);
    CHECK(reason(first.output, "COPY app /app") == "no earlier build of this step");

    write_text(ctx.path() / "app" / "a.txt", "EXPLAINED\n");
    const auto changed = s.build(ctx.path(), "--explain -t explained");
    INFO(changed.output);
    REQUIRE(changed.exit_code == 0);
    CHECK(reason(changed.output, "COPY app /app") == "file app/a.txt changed");
    CHECK(reason(changed.output, "RUN echo $V > /v") ==
          "parent layer changed (an earlier step missed: [stage-0 3] COPY app /app)");

    const auto arg = s.build(ctx.path(), "--explain --build-arg V=2 -t explained");
    INFO(arg.output);
    REQUIRE(arg.exit_code == 0);
    CHECK(reason(arg.output, "COPY app /app") == "");  // cached
    CHECK(reason(arg.output, "RUN echo $V > /v") == "ARG/env V changed (was 1, now 2)");

    write_text(buildfile, "FROM busybox\nARG V=1\nCOPY app /app\nRUN echo $V >> /v\nRUN cat /app/a.txt > /copy\n");
    const auto command = s.build(ctx.path(), "--explain -t explained");
    INFO(command.output);
    REQUIRE(command.exit_code == 0);
    CHECK(reason(command.output, "RUN echo $V >> /v") == "command changed");
    CHECK(s.strata("run explained cat /v /copy").output == "1\nEXPLAINED\n");

    SECTION("the base image moved") {
        ScratchDir base_ctx;
        write_text(base_ctx.path() / "Buildfile", "FROM busybox\nRUN echo 1 > /base\n");
        REQUIRE(s.build(base_ctx.path(), "-t moving-base").exit_code == 0);
        write_text(buildfile, "FROM moving-base\nRUN cat /base > /seen\n");
        REQUIRE(s.build(ctx.path(), "--explain -t on-moving-base").exit_code == 0);
        write_text(base_ctx.path() / "Buildfile", "FROM busybox\nRUN echo 2 > /base\n");
        REQUIRE(s.build(base_ctx.path(), "-t moving-base").exit_code == 0);
        const auto moved = s.build(ctx.path(), "--explain -t on-moving-base");
        INFO(moved.output);
        REQUIRE(moved.exit_code == 0);
        CHECK(reason(moved.output, "RUN cat /base > /seen") == "base image moved (moving-base is not what the last build used)");
    }
}

TEST_CASE("a corrupt cache record is a miss, not an error", "[integration][cache]") {
    auto& s = cache_store();
    ScratchDir ctx;
    write_text(ctx.path() / "Buildfile", "FROM busybox\nRUN echo corrupt-test > /c\n");
    REQUIRE(s.build(ctx.path(), "-t corrupt").exit_code == 0);
    for (const auto& e : fs::directory_iterator(s.root / "records" / "steps")) write_text(e.path(), "{ truncated");
    const auto again = s.build(ctx.path(), "-t corrupt");
    INFO(again.output);
    CHECK(again.exit_code == 0);
    CHECK(count_occurrences(again.output, "CACHED") == 0);
    CHECK(s.strata("run corrupt cat /c").output == "corrupt-test\n");
}

TEST_CASE("prune --cache keeps tagged images, removes cache-only snapshots; a rebuild then misses and works",
          "[integration][cache][prune]") {
    auto& s = cache_store();
    ScratchDir tagged, untagged;
    write_text(tagged.path() / "Buildfile", "FROM busybox\nRUN echo kept > /kept\n");
    write_text(untagged.path() / "Buildfile", "FROM busybox\nRUN echo cache-only > /gone\n");
    REQUIRE(s.build(tagged.path(), "-t prune-kept").exit_code == 0);
    const auto before_untagged = s.snapshots();
    REQUIRE(s.build(untagged.path()).exit_code == 0);
    std::set<std::string> cache_only;
    for (const auto& name : s.snapshots())
        if (!before_untagged.count(name)) cache_only.insert(name);
    REQUIRE(cache_only.size() == 1);

    const auto du = s.strata("du");
    INFO(du.output);
    REQUIRE(du.exit_code == 0);
    CHECK(du.output.find("Images") != std::string::npos);
    CHECK(du.output.find("Layer blobs") != std::string::npos);
    CHECK(build_cache_row(du.output).first >= 2);

    // Records used a moment ago are not "unused for 24h"; bad filters are refused by name.
    const auto recent = s.strata("prune --cache --filter until=24h");
    INFO(recent.output);
    CHECK(recent.exit_code == 0);
    CHECK(recent.output.find("Deleted 0 cache records") != std::string::npos);
    for (const auto& name : cache_only) CHECK(fs::exists(s.root / "snapshots" / name));
    CHECK(s.strata("prune --cache --filter until=soon").output.find("invalid duration 'soon'") != std::string::npos);
    CHECK(s.strata("prune --cache --filter label=x").exit_code == 1);
    CHECK(s.strata("prune --all").output.find("use them with --cache") != std::string::npos);

    const auto pruned = s.strata("prune --cache");
    INFO(pruned.output);
    REQUIRE(pruned.exit_code == 0);
    CHECK(pruned.output.find("Total reclaimed space") != std::string::npos);
    for (const auto& name : cache_only) CHECK_FALSE(fs::exists(s.root / "snapshots" / name));

    // The tagged image is whole: other tools read it, and it runs.
    const auto inspect = sh_stdout("skopeo inspect " + quote("oci:" + (s.root / "oci").string() + ":prune-kept:latest"));
    REQUIRE(inspect.exit_code == 0);
    CHECK(nlohmann::json::parse(inspect.output)["Layers"].size() == 4);
    CHECK(s.strata("run prune-kept cat /kept").output == "kept\n");
    CHECK(s.strata("run busybox echo base-ok").output == "base-ok\n");

    const auto rebuilt = s.build(untagged.path(), "-t prune-rebuilt");
    INFO(rebuilt.output);
    REQUIRE(rebuilt.exit_code == 0);
    CHECK(count_occurrences(rebuilt.output, "CACHED") == 0);
    CHECK(s.strata("run prune-rebuilt cat /gone").output == "cache-only\n");

    SECTION("--all empties the cache; the images stay and rebuild from scratch") {
        const auto all = s.strata("prune --cache --all");
        INFO(all.output);
        REQUIRE(all.exit_code == 0);
        CHECK(build_cache_row(s.strata("du").output).first == 0);
        CHECK(s.strata("run prune-kept cat /kept").output == "kept\n");
        const auto again = s.build(tagged.path(), "--explain -t prune-kept");
        INFO(again.output);
        REQUIRE(again.exit_code == 0);
        CHECK(count_occurrences(again.output, "CACHED") == 0);
        CHECK(reason(again.output, "RUN echo kept > /kept") == "no earlier build of this step");
        CHECK(s.strata("run prune-kept cat /kept").output == "kept\n");
    }
}

TEST_CASE("prune waits while a build holds the store", "[integration][cache][prune]") {
    auto& s = cache_store();
    ScratchDir work;
    // A stand-in for a running build: a shared hold on gc.lock until told to let go.
    const std::string script =
        "cd " + quote(work.path().string()) + " || exit 1\n"
        "flock -s " + quote((s.root / "gc.lock").string()) + " -c 'touch ready; while [ ! -e release ]; do sleep 0.05; done' &\n"
        "while [ ! -e ready ]; do sleep 0.05; done\n" +
        s.cmd("prune") + " > out 2>&1 &\n"
        "p=$!\n"
        "i=0; while ! grep -q waiting out && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done\n"
        "grep -q Deleted out && echo finished-while-held\n"
        "touch release\n"
        "wait $p; echo prune-exit=$?\n"
        "wait\n"
        "cat out\n";
    const auto r = sh(script);
    INFO(r.output);
    CHECK(r.output.find("waiting for running builds") != std::string::npos);
    CHECK(r.output.find("finished-while-held") == std::string::npos);
    CHECK(r.output.find("prune-exit=0") != std::string::npos);
    CHECK(r.output.find("Deleted") != std::string::npos);
}

} // namespace cache_test
