// The tree digest of COPY sources: a Merkle tree hashed on several threads, which must not
// depend on the threads, must see where every file is, and must fail cleanly.
#include "builder/context_hashes.hpp"
#include "tests/common/shell.hpp"

#include <catch2/catch.hpp>

#include <stdexcept>

namespace source_hash_test {  // this file's own names: a folder's tests compile as unity batches

using namespace strata;
using namespace strata::builder;
using strata::test::ScratchDir;
using strata::test::write_text;

namespace {

CopySource tree(const fs::path& root, const std::string& rel) { return {rel, root / rel, rel, true, rel}; }

// 12 directories of 3 subdirectories of 5 files: enough directories for every thread.
void make_wide_tree(const fs::path& src) {
    for (int d = 0; d < 12; ++d)
        for (int s = 0; s < 3; ++s)
            for (int f = 0; f < 5; ++f)
                write_text(src / ("d" + std::to_string(d)) / ("s" + std::to_string(s)) / ("f" + std::to_string(f)),
                           std::to_string(d * 100 + s * 10 + f));
}

std::string digest_with_listing(const CopySource& source, std::vector<ListingEntry>& listing) {
    detail::ReadEveryFile files;
    return detail::hash_tree(source, {}, {}, files, &listing);
}

// Fails on one file, as an unreadable file would.
class FailOn final : public detail::FileDigests {
public:
    explicit FailOn(std::string rel) : rel_(std::move(rel)) {}
    void content_digest(int dir_fd, const char* name, const std::string& rel, const std::string& shown,
                        const struct stat&, std::string& hex, std::size_t&) override {
        if (rel == rel_) throw std::runtime_error("cannot read " + shown);
        hex = detail::hash_file_content(dir_fd, name, shown);
    }

private:
    std::string rel_;
};

} // namespace

TEST_CASE("the parallel tree digest equals the one-thread walk that lists it", "[hash]") {
    ScratchDir dir;
    make_wide_tree(dir.path() / "ctx" / "src");
    const CopySource src = tree(dir.path() / "ctx", "src");
    std::vector<ListingEntry> listing;
    const std::string listed = digest_with_listing(src, listing);
    for (int i = 0; i < 5; ++i) CHECK(hash_source(src) == listed);
    // Every entry once, in walk order, the source itself first.
    REQUIRE(listing.size() == 1 + 12 + 12 * 3 + 12 * 3 * 5);
    CHECK(listing[0].path == "src");
    CHECK(listing[1].path == "src/d0");
    CHECK(listing[2].path == "src/d0/s0");
    CHECK(listing[3].path == "src/d0/s0/f0");
    CHECK(listing.back().path == "src/d9/s2/f4");
}

TEST_CASE("the tree digest sees where a file is, not only what is in it", "[hash]") {
    ScratchDir dir;
    const fs::path a = dir.path() / "a", b = dir.path() / "b";
    write_text(a / "src" / "x" / "y" / "f", "same");
    write_text(b / "src" / "x" / "f", "same");
    fs::create_directories(b / "src" / "x" / "y");
    CHECK(hash_source(tree(a, "src")) != hash_source(tree(b, "src")));

    // A copy elsewhere, built in another order, has the same digest.
    const fs::path c = dir.path() / "c";
    write_text(c / "src" / "x" / "y" / "f", "same");
    CHECK(hash_source(tree(a, "src")) == hash_source(tree(c, "src")));
}

TEST_CASE("a file that cannot be hashed fails the whole digest, naming it", "[hash]") {
    ScratchDir dir;
    make_wide_tree(dir.path() / "ctx" / "src");
    const CopySource src = tree(dir.path() / "ctx", "src");
    for (const char* bad : {"src/d7/s1/f3", "src/d0/s0/f0", "src/d11/s2/f4"}) {
        FailOn files(bad);
        CHECK_THROWS_WITH(detail::hash_tree(src, {}, {}, files), Catch::Contains(std::string("cannot read ") +
                                                                                 (dir.path() / "ctx" / bad).string()));
    }
}

} // namespace source_hash_test
