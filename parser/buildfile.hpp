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

// Every Dockerfile instruction. The first nine keep their values; the builder may refuse
// the others ("X is not supported by the builder yet"), but they all parse.
enum class Kind {
    from, run, copy, env, workdir, cmd, entrypoint, label, arg,
    add, expose, volume, user, shell, healthcheck, stopsignal, onbuild, maintainer
};
std::string_view kind_name(Kind kind);  // "FROM", "RUN", ...

struct KeyValue {
    std::string key;
    std::optional<std::string> value;  // ARG without default has none
};

// A heredoc (`<<EOF` ... `EOF`) attached to RUN, COPY or ADD, as BuildKit reads it.
struct Heredoc {
    std::string name;     // the terminator word, quotes removed: <<'EOF' -> EOF
    std::string content;  // the body lines as written, each with its newline; tabs kept even for <<-
    bool expand = true;   // false when any part of the delimiter was quoted (<<'EOF', <<"EOF", <<E'O'F)
    bool chomp = false;   // <<-EOF: leading tabs are stripped from the body (see data())
    int fd = 0;           // 3<<EOF -> 3; 0 when not given

    std::string data() const;  // content with leading tabs removed from every line when chomp
};

// `heredoc_word("<<-'EOF'")` -> {name EOF, chomp, no expand}; nullopt when the word is not a
// heredoc. COPY/ADD sources that are heredoc words name one of Instruction::heredocs.
std::optional<Heredoc> heredoc_word(std::string_view word);

// RUN --mount=... (BuildKit's instructions.Mount). Values are unexpanded.
struct Mount {
    std::string type = "bind";  // bind | cache | tmpfs | secret | ssh
    std::string target;         // target= dst= destination=
    std::string source;         // source= src=
    std::string from;           // from=: a stage name or index, or an image
    std::optional<int> from_stage;  // set by the DAG when `from` names a stage
    std::string id;             // id= (cache, secret, ssh)
    std::string sharing;        // cache: shared | private | locked ("" = shared)
    std::string env;            // secret: env= (expose the secret as this variable)
    bool readonly = true;       // ro/readonly/rw/readwrite; default true except cache and tmpfs
    bool required = false;      // secret, ssh
    std::optional<unsigned> mode;  // octal: cache, secret, ssh
    std::optional<unsigned> uid;
    std::optional<unsigned> gid;
    std::optional<long long> size;  // tmpfs: bytes (size=64m)
};

// HEALTHCHECK, as docker's config stores it. Durations in nanoseconds, 0 = not given.
struct Healthcheck {
    std::vector<std::string> test;  // {"NONE"}, {"CMD", argv...} or {"CMD-SHELL", text}
    long long interval_ns = 0;
    long long timeout_ns = 0;
    long long start_period_ns = 0;
    long long start_interval_ns = 0;
    int retries = 0;
};

struct Instruction {
    Kind kind;
    Location loc;         // position of the instruction keyword
    std::string original; // the instruction as written, continuations joined ("RUN echo hi")

    // The flags given, by name without "--", in order (a repeated flag appears each time).
    // A builder that implements only some flags refuses the others by looking here.
    std::vector<std::string> flag_names;

    // RUN, CMD, ENTRYPOINT, SHELL: exec form -> argv as given (JSON strings);
    // shell form -> one element, the command text (still to be run through the shell).
    // RUN with heredocs folds them in as BuildKit's dispatcher does: `RUN <<EOF` alone ->
    // the heredoc's body; `RUN cmd <<EOF` -> "cmd <<EOF\n<body>EOF" for the shell to read.
    // (A single heredoc whose body starts with "#!" is a script BuildKit writes to a file and
    // executes: the builder must handle that case from `heredocs` itself.)
    std::vector<std::string> command;
    bool shell_form = false;

    // RUN: --mount, --network (default|none|host, "" if not given), --security (insecure|sandbox).
    std::vector<Mount> mounts;
    std::string network;
    std::string security;

    // RUN, COPY, ADD: heredocs in the order they appear on the line.
    std::vector<Heredoc> heredocs;

    // COPY, ADD: unexpanded source words (heredoc words such as "<<EOF" included as written;
    // heredoc_word() tells them apart) and destination; `--from=` value (unexpanded, "" if none).
    std::vector<std::string> sources;
    std::string dest;
    std::string copy_from;
    std::optional<int> copy_from_stage;  // set by the DAG when copy_from names a stage
    std::string copy_from_expanded;      // copy_from expanded with the global ARGs (set by the DAG)
    std::string chown;                   // --chown (unexpanded)
    std::string chmod;                   // --chmod
    std::string checksum;                // ADD --checksum
    bool link = false;                   // --link
    bool parents = false;                // COPY --parents
    bool keep_git_dir = false;           // ADD --keep-git-dir
    std::optional<bool> unpack;          // ADD --unpack
    std::vector<std::string> excludes;   // --exclude, repeatable

    // EXPOSE: ports as written ("80/tcp"); VOLUME: paths (unexpanded).
    std::vector<std::string> values;

    // USER: "name[:group]"; STOPSIGNAL: the signal; MAINTAINER: the name. Unexpanded.
    std::string user;
    std::string signal;
    std::string maintainer;

    Healthcheck healthcheck;  // HEALTHCHECK

    // ONBUILD: the wrapped instruction (exactly one element) and its text, heredoc bodies
    // appended as BuildKit stores it in the image config.
    std::vector<Instruction> onbuild;
    std::string onbuild_expression;

    // ENV, LABEL, ARG: pairs in order (values unexpanded, quotes kept for the lexer).
    std::vector<KeyValue> pairs;

    // WORKDIR: unexpanded path.
    std::string path;

    // FROM: unexpanded image reference or stage name, and the lower-cased `AS name` ("" if none).
    // (FROM lines are not part of Stage::steps; the Stage describes them.)
    std::string image;
    std::string stage_name;
    std::string platform;  // FROM --platform (unexpanded, "" if none)
};

struct Stage {
    int index = 0;
    std::string name;              // lower-cased `AS name`, "" if none
    Location loc;                  // of the FROM line
    std::string base;              // expanded image reference (or "scratch"); "" when base_stage is set
    std::optional<int> base_stage; // FROM <earlier stage name>
    std::vector<Instruction> steps; // the instructions after FROM (the FROM itself is described above)
    std::vector<int> deps;         // stages this one needs: base_stage, COPY --from and RUN --mount from=, sorted, unique
    std::string platform;          // FROM --platform, expanded with the global ARGs ("" if none)
};

struct ParseOptions {
    std::string filename = "Buildfile";
    std::map<std::string, std::string> build_args;  // --build-arg K=V
    std::string target;                             // --target; "" = last stage
    // BuildKit's automatic platform ARGs (BUILDPLATFORM, BUILDOS, BUILDARCH, BUILDVARIANT,
    // TARGETPLATFORM, TARGETOS, TARGETARCH, TARGETVARIANT), filled by the caller, who knows
    // the platforms. FROM lines see them without a declaration, as in BuildKit; a global
    // `ARG TARGETARCH` without a default keeps the predefined value.
    std::map<std::string, std::string> predefined_args;
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
    std::map<std::string, std::string> directives;  // `# syntax=` / `# escape=` / `# check=`, keys lower-case
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
