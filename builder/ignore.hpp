#pragma once
// .dockerignore, with the semantics Docker and BuildKit give it (moby/patternmatcher v0.6.1
// and its ignorefile reader), so that a context sent to strata leaves out exactly what
// `docker build` would leave out. Conformance data: shared/conformance/dockerignore/.
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace strata::builder {

// Turns the text of a .dockerignore file into its pattern list: '#' comments only in column 1,
// white space trimmed, blank lines dropped, each pattern path-cleaned with one leading '/'
// removed, a leading '!' (exclusion) kept in front. Throws strata::Error on an over-long line.
std::vector<std::string> read_ignore_file(std::string_view text);

// A compiled pattern list. Paths are slash-separated and relative to the context root.
class IgnoreMatcher {
public:
    IgnoreMatcher();  // no patterns: matches nothing
    // Throws strata::Error naming the pattern when one is malformed (`[`, `a[`, `\`, `!`, ...).
    // A few patterns are only found bad when used (e.g. the empty range in `[Local-Only]`):
    // those make matches() throw, as Docker's matcher does.
    explicit IgnoreMatcher(std::vector<std::string> patterns);
    IgnoreMatcher(const IgnoreMatcher&);
    IgnoreMatcher(IgnoreMatcher&&) noexcept;
    IgnoreMatcher& operator=(const IgnoreMatcher&);
    IgnoreMatcher& operator=(IgnoreMatcher&&) noexcept;
    ~IgnoreMatcher();

    // True when the path is excluded from the context: the last pattern that hits it (matches
    // the path or one of its parent directories) is not a `!` exception. The path is used as
    // given (not cleaned).
    bool matches(std::string_view relative_path) const;

    // For a directory that matches(): false when nothing below it can be re-included by a `!`
    // exception, so a walker may skip the whole subtree. Conservative: true when unsure.
    bool may_match_inside(std::string_view dir) const;

    bool empty() const noexcept;
    bool has_exclusions() const noexcept;  // some pattern starts with '!'

    struct Pattern;  // one compiled pattern; opaque, defined in ignore.cpp

private:
    std::vector<Pattern> patterns_;
};

// The ignore file for a build: `<buildfile>.dockerignore` beside the Buildfile when it exists
// (BuildKit's rule), else `<context>/.dockerignore`, else none (an empty matcher).
// An empty buildfile_path (Buildfile from stdin) skips the first candidate.
IgnoreMatcher load_context_ignore(const std::filesystem::path& context_dir,
                                  const std::filesystem::path& buildfile_path);

} // namespace strata::builder
