#pragma once
// The parser's public API: Buildfile text -> typed instructions -> stage DAG.
// Knows nothing of Linux or images. Words are returned *unexpanded*: the builder
// expands them at dispatch time with the stage's environment (BuildKit does the same),
// through expand_word()/expand_words() below.
#include "util/error.hpp"

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace strata::parser {

struct Location {
    std::string file;  // as given by the caller, e.g. "Buildfile"
    int line = 0;      // 1-based
    int column = 0;    // 1-based
};

// "Buildfile:3:5: unknown instruction: FOO" followed by the offending line and a caret.
class ParseError : public Error {
public:
    ParseError(Location where, std::string_view what, std::string_view source_line = {});
    const Location& where() const noexcept { return where_; }

private:
    Location where_;
};

enum class Kind { from, run, copy, env, workdir, cmd, entrypoint, label, arg };
std::string_view kind_name(Kind kind);  // "FROM", "RUN", ...

struct KeyValue {
    std::string key;
    std::optional<std::string> value;  // ARG without default has none
};

struct Instruction {
    Kind kind;
    Location loc;         // position of the instruction keyword
    std::string original; // the instruction as written, continuations joined ("RUN echo hi")

    // RUN, CMD, ENTRYPOINT: exec form -> argv as given (JSON strings);
    // shell form -> one element, the command text (still to be run through the shell).
    std::vector<std::string> command;
    bool shell_form = false;

    // COPY: unexpanded source words and destination; `--from=` value (unexpanded, "" if none).
    std::vector<std::string> sources;
    std::string dest;
    std::string copy_from;
    std::optional<int> copy_from_stage;  // set by the DAG when copy_from names a stage

    // ENV, LABEL, ARG: pairs in order (values unexpanded, quotes kept for the lexer).
    std::vector<KeyValue> pairs;

    // WORKDIR: unexpanded path.
    std::string path;

    // FROM: unexpanded image reference or stage name, and the lower-cased `AS name` ("" if none).
    // (FROM lines are not part of Stage::steps; the Stage describes them.)
    std::string image;
    std::string stage_name;
};

struct Stage {
    int index = 0;
    std::string name;              // lower-cased `AS name`, "" if none
    Location loc;                  // of the FROM line
    std::string base;              // expanded image reference (or "scratch"); "" when base_stage is set
    std::optional<int> base_stage; // FROM <earlier stage name>
    std::vector<Instruction> steps; // the instructions after FROM (the FROM itself is described above)
    std::vector<int> deps;         // stages this one needs: base_stage and COPY --from stages, sorted, unique
};

struct ParseOptions {
    std::string filename = "Buildfile";
    std::map<std::string, std::string> build_args;  // --build-arg K=V
    std::string target;                             // --target; "" = last stage
};

struct Dag {
    // ARGs before the first FROM, in order, with effective values: --build-arg overrides a
    // default, defaults are expanded with the ARGs before them; nullopt = declared, no value.
    std::vector<KeyValue> global_args;
    std::vector<Stage> stages;          // in file order, indexes preserved
    int target = 0;                     // index of the stage to build
    // Stage indexes reachable from the target, dependencies first (a valid build order).
    std::vector<int> build_order;
    char escape = '\\';  // `# escape=` directive; pass it to expand_word()/expand_words()
};

// Parses the whole file and builds the DAG. Throws ParseError with file:line:col.
Dag parse_buildfile(std::string_view text, const ParseOptions& options);

// Shell-word expansion with BuildKit's semantics ($VAR, ${VAR}, ${VAR:-w}, quotes, escapes).
// expand_word: one string, no word splitting (ENV/LABEL/WORKDIR values).
// expand_words: split into words (COPY sources).
// Also ${VAR#p} ${VAR##p} ${VAR%p} ${VAR%%p} ${VAR/p/r} ${VAR//p/r} (p: * ? and escapes).
// Throws strata::Error ("failed to process \"...\": ...") on bad syntax or ${VAR?msg}.
using Environment = std::map<std::string, std::string>;
std::string expand_word(std::string_view word, const Environment& env, char escape = '\\');
std::vector<std::string> expand_words(std::string_view word, const Environment& env, char escape = '\\');

} // namespace strata::parser
