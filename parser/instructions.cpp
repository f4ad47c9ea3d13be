// Typed instructions from the line-level AST. Values stay unexpanded: the builder expands
// them with the stage's environment when it runs the step.
#include "parser/instructions.hpp"
#include "parser/flag_values.hpp"
#include "parser/suggest.hpp"
#include "parser/text.hpp"

#include <algorithm>
#include <map>
#include <set>

namespace strata::parser {

namespace {

const std::map<std::string, Kind>& all_kinds() {
    static const std::map<std::string, Kind> kinds = {
        {"FROM", Kind::from},       {"RUN", Kind::run},
        {"COPY", Kind::copy},       {"ENV", Kind::env},
        {"WORKDIR", Kind::workdir}, {"CMD", Kind::cmd},
        {"ENTRYPOINT", Kind::entrypoint}, {"LABEL", Kind::label},
        {"ARG", Kind::arg},         {"ADD", Kind::add},
        {"EXPOSE", Kind::expose},   {"VOLUME", Kind::volume},
        {"USER", Kind::user},       {"SHELL", Kind::shell},
        {"HEALTHCHECK", Kind::healthcheck}, {"STOPSIGNAL", Kind::stopsignal},
        {"ONBUILD", Kind::onbuild}, {"MAINTAINER", Kind::maintainer},
    };
    return kinds;
}

// BuildKit's BFlags: a string flag needs `=value`, a bool flag takes none or true/false,
// a strings flag may repeat.
enum class FlagType { string, boolean, strings };

struct FlagSpec {
    std::string name;
    FlagType type;
};

const std::vector<FlagSpec>& flag_specs(Kind kind) {
    using T = FlagType;
    static const std::vector<FlagSpec> none;
    static const std::vector<FlagSpec> from{{"platform", T::string}};
    static const std::vector<FlagSpec> run{{"mount", T::strings}, {"network", T::string}, {"security", T::string}};
    static const std::vector<FlagSpec> copy{{"from", T::string},    {"chown", T::string},  {"chmod", T::string},
                                            {"link", T::boolean},   {"parents", T::boolean},
                                            {"exclude", T::strings}};
    static const std::vector<FlagSpec> add{{"chown", T::string},        {"chmod", T::string},
                                           {"link", T::boolean},        {"keep-git-dir", T::boolean},
                                           {"checksum", T::string},     {"exclude", T::strings},
                                           {"unpack", T::boolean}};
    static const std::vector<FlagSpec> healthcheck{{"interval", T::string},       {"timeout", T::string},
                                                   {"start-period", T::string},   {"start-interval", T::string},
                                                   {"retries", T::string}};
    switch (kind) {
    case Kind::from: return from;
    case Kind::run: return run;
    case Kind::copy: return copy;
    case Kind::add: return add;
    case Kind::healthcheck: return healthcheck;
    default: return none;
    }
}

// Parsed flags: name -> values (one for string/bool flags; bools are "true"/"false").
struct Flags {
    std::map<std::string, std::vector<std::string>> values;
    std::vector<std::string> names;  // in order of appearance

    const std::string* get(const std::string& name) const {
        const auto found = values.find(name);
        return found == values.end() ? nullptr : &found->second.front();
    }
    std::vector<std::string> all(const std::string& name) const {
        const auto found = values.find(name);
        return found == values.end() ? std::vector<std::string>{} : found->second;
    }
    bool is_true(const std::string& name) const {
        const auto* value = get(name);
        return value != nullptr && *value == "true";
    }
};

class InstructionBuilder {
public:
    // `outer` is the ONBUILD node when building the instruction it wraps: location and
    // heredocs come from it.
    InstructionBuilder(const Node& node, const Ast& ast, std::string_view text, const Node* outer = nullptr)
        : node_(node), outer_(outer != nullptr ? *outer : node), ast_(ast), text_(text),
          keyword_(ascii_upper(node.value)), args_(node.args()) {}

    Instruction build() {
        const auto kind = all_kinds().find(keyword_);
        if (kind == all_kinds().end()) {
            fail("unknown instruction: " + keyword_ + suggestion(keyword_, known_keywords()));
        }
        Instruction out{};
        out.kind = kind->second;
        out.loc = location_of(outer_, ast_);
        out.original = node_.original;
        const auto flags = parse_flags(out.kind);
        out.flag_names = flags.names;
        switch (out.kind) {
        case Kind::from: build_from(out, flags); break;
        case Kind::run: build_run(out, flags); break;
        case Kind::cmd:
        case Kind::entrypoint: build_command(out); break;
        case Kind::copy:
        case Kind::add: build_copy(out, flags); break;
        case Kind::env:
        case Kind::label: build_pairs(out); break;
        case Kind::arg: build_args(out); break;
        case Kind::workdir: out.path = one_argument(); break;
        case Kind::expose: build_expose(out); break;
        case Kind::volume: build_volume(out); break;
        case Kind::user: out.user = one_argument(); break;
        case Kind::stopsignal: out.signal = one_argument(); break;
        case Kind::maintainer: out.maintainer = one_argument(); break;
        case Kind::shell: build_shell(out); break;
        case Kind::healthcheck: build_healthcheck(out, flags); break;
        case Kind::onbuild: build_onbuild(out); break;
        }
        return out;
    }

private:
    static std::vector<std::string> known_keywords() {
        std::vector<std::string> names;
        for (const auto& [name, kind] : all_kinds()) {
            names.push_back(name);
        }
        return names;
    }

    [[noreturn]] void fail(std::string_view message) const { fail_at(outer_, ast_, text_, message); }

    // Points at `--name` on the instruction's first line when it is there.
    [[noreturn]] void fail_flag(const std::string& name, std::string_view message) const {
        const auto line = source_line(text_, outer_.start_line);
        const auto at = line.find("--" + name);
        if (at == std::string_view::npos || outer_.start_line == 0) {
            fail(message);
        }
        throw ParseError({ast_.filename, outer_.start_line, static_cast<int>(at) + 1}, message, line);
    }

    template <typename Parse>
    auto flag_value(const std::string& name, Parse&& parse) const {
        try {
            return parse();
        } catch (const ParseError&) {
            throw;
        } catch (const Error& e) {
            fail_flag(name, "--" + name + ": " + e.message());
        }
    }

    Flags parse_flags(Kind kind) const {
        Flags flags;
        const auto& specs = flag_specs(kind);
        for (const auto& flag : node_.flags) {
            const auto eq = flag.find('=');
            const auto name = flag.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
            const auto spec = std::find_if(specs.begin(), specs.end(), [&](const FlagSpec& s) { return s.name == name; });
            if (spec == specs.end()) {
                std::vector<std::string> names;
                for (const auto& s : specs) {
                    names.push_back("--" + s.name);
                }
                fail_flag(name, "unknown flag: --" + name + suggestion("--" + name, names));
            }
            if (flags.values.count(name) && spec->type != FlagType::strings) {
                fail_flag(name, "duplicate flag specified: --" + name);
            }
            std::string value = eq == std::string::npos ? std::string() : flag.substr(eq + 1);
            if (spec->type == FlagType::boolean) {
                if (eq != std::string::npos && value.empty()) {
                    fail_flag(name, "missing a value on flag: --" + name);
                }
                const auto lower = ascii_lower(value);
                if (!lower.empty() && lower != "true" && lower != "false") {
                    fail_flag(name, "expecting boolean value for flag --" + name + ", not: " + value);
                }
                value = lower.empty() ? "true" : lower;
            } else if (eq == std::string::npos) {
                fail_flag(name, "missing a value on flag: --" + name);
            }
            flags.values[name].push_back(value);
            flags.names.push_back(name);
        }
        return flags;
    }

    std::string one_argument() const {
        if (args_.size() != 1) {
            fail(keyword_ + " requires exactly one argument");
        }
        return args_[0];
    }

    void build_from(Instruction& out, const Flags& flags) const {
        if (args_.size() != 1 && args_.size() != 3) {
            fail("FROM requires either one or three arguments");
        }
        out.image = args_[0];
        if (args_.size() == 3) {
            if (ascii_lower(args_[1]) != "as") {
                fail("FROM requires either one or three arguments: the second must be AS");
            }
            out.stage_name = ascii_lower(args_[2]);
            if (!valid_stage_name(out.stage_name)) {
                fail("invalid name for build stage: \"" + args_[2] +
                     "\", name can't start with a number or contain symbols");
            }
        }
        if (const auto* platform = flags.get("platform")) {
            out.platform = *platform;
        }
    }

    static bool valid_stage_name(std::string_view name) {
        const auto allowed = [](char c) {
            return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
        };
        return !name.empty() && name.front() >= 'a' && name.front() <= 'z' &&
               std::all_of(name.begin(), name.end(), allowed);
    }

    // The last use of args_: moved, since a shell-form command may be a 100 MB line.
    void build_command(Instruction& out) {
        out.shell_form = !node_.json && !args_.empty();
        out.command = std::move(args_);
    }

    void build_run(Instruction& out, const Flags& flags) {
        if (args_.empty()) {
            fail("RUN requires at least one argument");
        }
        build_command(out);
        for (const auto& value : flags.all("mount")) {
            out.mounts.push_back(flag_value("mount", [&] { return parse_mount(value); }));
        }
        if (const auto* network = flags.get("network")) {
            if (*network != "default" && *network != "none" && *network != "host") {
                fail_flag("network", "unsupported network mode \"" + *network + "\" (expected default, none or host)");
            }
            out.network = *network;
        }
        if (const auto* security = flags.get("security")) {
            if (*security != "insecure" && *security != "sandbox") {
                fail_flag("security", "unsupported security mode \"" + *security + "\" (expected insecure or sandbox)");
            }
            out.security = *security;
        }
        out.heredocs = outer_.heredocs;
        fold_heredocs(out);
    }

    // What BuildKit's dispatcher hands to the shell for a RUN with heredocs.
    static void fold_heredocs(Instruction& out) {
        if (out.heredocs.empty() || !out.shell_form) {
            return;
        }
        const auto& first = out.heredocs.front();
        if (heredoc_word(out.command.front())) {
            if (first.content.rfind("#!", 0) != 0) {
                out.command = {first.content};
            }
            return;
        }
        std::string full = out.command.front();
        for (const auto& heredoc : out.heredocs) {
            full.append("\n").append(heredoc.content).append(heredoc.name);
        }
        out.command = {full};
    }

    void build_copy(Instruction& out, const Flags& flags) const {
        if (args_.size() < 2) {
            fail(keyword_ + " requires at least two arguments, but only one was provided. Destination could not be determined");
        }
        out.sources.assign(args_.begin(), args_.end() - 1);
        out.dest = args_.back();
        const auto is_heredoc = [&](const std::string& word) {
            try {
                return heredoc_word(word).has_value();
            } catch (const Error& e) {
                fail(e.message());
            }
        };
        if (is_heredoc(out.dest)) {
            fail(keyword_ + " cannot accept a heredoc as a destination");
        }
        for (const auto& source : out.sources) {
            is_heredoc(source);
        }
        out.heredocs = outer_.heredocs;
        const auto text = [&](const char* name) { return flags.get(name) ? *flags.get(name) : std::string(); };
        out.copy_from = text("from");
        out.chown = text("chown");
        out.chmod = text("chmod");
        out.checksum = text("checksum");
        out.link = flags.is_true("link");
        out.parents = flags.is_true("parents");
        out.keep_git_dir = flags.is_true("keep-git-dir");
        if (flags.get("unpack")) {
            out.unpack = flags.is_true("unpack");
        }
        out.excludes = flags.all("exclude");
    }

    // ENV and LABEL nodes come in threes: key, value, separator.
    void build_pairs(Instruction& out) const {
        if (args_.empty()) {
            fail(keyword_ + " requires at least one argument");
        }
        for (std::size_t i = 0; i + 1 < args_.size(); i += 3) {
            if (args_[i].empty()) {
                fail(keyword_ + " names can not be blank");
            }
            out.pairs.push_back({args_[i], args_[i + 1]});
        }
    }

    void build_args(Instruction& out) const {
        if (args_.empty()) {
            fail("ARG requires at least one argument");
        }
        for (const auto& word : args_) {
            const auto eq = word.find('=');
            KeyValue pair{word.substr(0, eq), std::nullopt};
            if (eq != std::string::npos) {
                pair.value = word.substr(eq + 1);
            }
            if (pair.key.empty()) {
                fail("ARG names can not be blank");
            }
            out.pairs.push_back(std::move(pair));
        }
    }

    void build_expose(Instruction& out) const {
        if (args_.empty()) {
            fail("EXPOSE requires at least one argument");
        }
        out.values = args_;
    }

    void build_volume(Instruction& out) const {
        if (args_.empty()) {
            fail("VOLUME requires at least one argument");
        }
        for (const auto& path : args_) {
            if (trim_blanks(path).empty()) {
                fail("VOLUME specified can not be an empty string");
            }
            out.values.push_back(std::string(trim_blanks(path)));
        }
    }

    static std::string_view trim_blanks(std::string_view text) {
        const auto first = text.find_first_not_of(" \t\n\v\f\r");
        if (first == std::string_view::npos) {
            return {};
        }
        return text.substr(first, text.find_last_not_of(" \t\n\v\f\r") - first + 1);
    }

    void build_shell(Instruction& out) const {
        if (args_.empty()) {
            fail("SHELL requires at least one argument");
        }
        if (!node_.json) {
            fail("SHELL requires the arguments to be in JSON form");
        }
        out.command = args_;
    }

    void build_healthcheck(Instruction& out, const Flags& flags) const {
        if (args_.empty()) {
            fail("HEALTHCHECK requires at least one argument");
        }
        const auto type = ascii_upper(args_[0]);
        const std::vector<std::string> rest(args_.begin() + 1, args_.end());
        auto& health = out.healthcheck;
        if (type == "NONE") {
            if (!rest.empty()) {
                fail("HEALTHCHECK NONE takes no arguments");
            }
            health.test = {"NONE"};
            return;
        }
        if (type != "CMD") {
            fail("Unknown type \"" + args_[0] + "\" in HEALTHCHECK (try CMD)");
        }
        if (rest.empty() || (!node_.json && rest.front().empty())) {
            fail("Missing command after HEALTHCHECK CMD");
        }
        health.test = {node_.json ? "CMD" : "CMD-SHELL"};
        health.test.insert(health.test.end(), rest.begin(), rest.end());
        health.interval_ns = interval(flags, "interval");
        health.timeout_ns = interval(flags, "timeout");
        health.start_period_ns = interval(flags, "start-period");
        health.start_interval_ns = interval(flags, "start-interval");
        if (const auto* retries = flags.get("retries")) {
            health.retries = flag_value("retries", [&] { return parse_retries(*retries); });
        }
    }

    long long interval(const Flags& flags, const std::string& name) const {
        const auto* value = flags.get(name);
        if (value == nullptr || value->empty()) {
            return 0;
        }
        const auto ns = flag_value(name, [&] { return parse_go_duration(*value); });
        if (ns != 0 && ns < 1000000) {
            fail_flag(name, "Interval \"" + name + "\" cannot be less than 1ms");
        }
        return ns;
    }

    static int parse_retries(const std::string& value) {
        const bool negative = !value.empty() && value.front() == '-';
        const auto digits = std::string_view(value).substr(negative || (!value.empty() && value.front() == '+') ? 1 : 0);
        if (digits.empty() || digits.size() > 10 ||
            !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
            throw Error("strconv.ParseInt: parsing \"" + value + "\": invalid syntax");
        }
        const long long number = std::stoll(std::string(digits));
        if (number > 2147483647LL) {
            throw Error("strconv.ParseInt: parsing \"" + value + "\": value out of range");
        }
        if (negative && number != 0) {
            throw Error("--retries cannot be negative (-" + std::string(digits) + ")");
        }
        return static_cast<int>(number);
    }

    void build_onbuild(Instruction& out) const {
        if (!node_.next || node_.next->children.empty()) {
            fail("ONBUILD requires at least one argument");
        }
        const Node& trigger = node_.next->children.front();
        const auto trigger_keyword = ascii_upper(trigger.value);
        if (trigger_keyword == "ONBUILD") {
            fail("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
        }
        if (trigger_keyword == "FROM" || trigger_keyword == "MAINTAINER") {
            fail(trigger_keyword + " isn't allowed as an ONBUILD trigger");
        }
        out.onbuild.push_back(InstructionBuilder(trigger, ast_, text_, &node_).build());
        // BuildKit stores the text after the keyword, heredoc bodies appended.
        std::string expression = node_.original;
        const auto keyword_end = expression.find_first_of(" \t\v\f\r", 0);
        expression = std::string(trim_blanks(keyword_end == std::string::npos ? "" : expression.substr(keyword_end)));
        for (const auto& heredoc : node_.heredocs) {
            expression.append("\n").append(heredoc.content).append(heredoc.name);
        }
        out.onbuild_expression = expression;
    }

    const Node& node_;
    const Node& outer_;
    const Ast& ast_;
    std::string_view text_;
    std::string keyword_;
    std::vector<std::string> args_;
};

} // namespace

std::string_view kind_name(Kind kind) {
    switch (kind) {
    case Kind::from: return "FROM";
    case Kind::run: return "RUN";
    case Kind::copy: return "COPY";
    case Kind::env: return "ENV";
    case Kind::workdir: return "WORKDIR";
    case Kind::cmd: return "CMD";
    case Kind::entrypoint: return "ENTRYPOINT";
    case Kind::label: return "LABEL";
    case Kind::arg: return "ARG";
    case Kind::add: return "ADD";
    case Kind::expose: return "EXPOSE";
    case Kind::volume: return "VOLUME";
    case Kind::user: return "USER";
    case Kind::shell: return "SHELL";
    case Kind::healthcheck: return "HEALTHCHECK";
    case Kind::stopsignal: return "STOPSIGNAL";
    case Kind::onbuild: return "ONBUILD";
    case Kind::maintainer: return "MAINTAINER";
    }
    return "?";
}

Location location_of(const Node& node, const Ast& ast) { return {ast.filename, node.start_line, node.column}; }

void fail_at(const Node& node, const Ast& ast, std::string_view text, std::string_view message) {
    throw ParseError(location_of(node, ast), message, source_line(text, node.start_line));
}

Instruction to_instruction(const Node& node, const Ast& ast, std::string_view text) {
    return InstructionBuilder(node, ast, text).build();
}

} // namespace strata::parser
