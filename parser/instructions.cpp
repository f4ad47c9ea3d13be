// Typed instructions from the line-level AST. Values stay unexpanded: the builder expands
// them with the stage's environment when it runs the step.
#include "parser/instructions.hpp"
#include "parser/text.hpp"

#include <algorithm>
#include <map>
#include <set>

namespace strata::parser {

namespace {

const std::map<std::string, Kind>& supported_kinds() {
    static const std::map<std::string, Kind> kinds = {
        {"FROM", Kind::from},   {"RUN", Kind::run},          {"COPY", Kind::copy},
        {"ENV", Kind::env},     {"WORKDIR", Kind::workdir},  {"CMD", Kind::cmd},
        {"ENTRYPOINT", Kind::entrypoint}, {"LABEL", Kind::label}, {"ARG", Kind::arg},
    };
    return kinds;
}

// Dockerfile instructions that a later version will support.
bool is_known_unsupported(const std::string& keyword) {
    static const std::set<std::string> later = {"ADD",     "EXPOSE",     "USER",        "VOLUME",
                                                "SHELL",   "STOPSIGNAL", "HEALTHCHECK", "ONBUILD",
                                                "MAINTAINER"};
    return later.count(keyword) > 0;
}

// Flags each instruction accepts now, and those BuildKit has that strata does not yet.
struct FlagRules {
    std::set<std::string> accepted;
    std::set<std::string> later;
};

const FlagRules& flag_rules(Kind kind) {
    static const FlagRules none{};
    static const FlagRules from{{}, {"platform"}};
    static const FlagRules run{{}, {"mount", "network", "security", "device"}};
    static const FlagRules copy{{"from"}, {"chown", "chmod", "link", "parents", "exclude", "checksum"}};
    switch (kind) {
    case Kind::from: return from;
    case Kind::run: return run;
    case Kind::copy: return copy;
    default: return none;
    }
}

class InstructionBuilder {
public:
    InstructionBuilder(const Node& node, const Ast& ast, std::string_view text)
        : node_(node), ast_(ast), text_(text), keyword_(ascii_upper(node.value)), args_(node.args()) {}

    Instruction build() {
        const auto kind = supported_kinds().find(keyword_);
        if (kind == supported_kinds().end()) {
            fail(is_known_unsupported(keyword_) ? "instruction " + keyword_ + " is not supported yet"
                                                : "unknown instruction: " + keyword_);
        }
        Instruction out{};
        out.kind = kind->second;
        out.loc = location_of(node_, ast_);
        out.original = node_.original;
        const auto flags = parse_flags(out.kind);
        switch (out.kind) {
        case Kind::from: build_from(out); break;
        case Kind::run:
        case Kind::cmd:
        case Kind::entrypoint: build_command(out); break;
        case Kind::copy: build_copy(out, flags); break;
        case Kind::env:
        case Kind::label: build_pairs(out); break;
        case Kind::arg: build_args(out); break;
        case Kind::workdir: build_workdir(out); break;
        }
        return out;
    }

private:
    [[noreturn]] void fail(std::string_view message) const { fail_at(node_, ast_, text_, message); }

    std::map<std::string, std::string> parse_flags(Kind kind) const {
        std::map<std::string, std::string> flags;
        for (const auto& flag : node_.flags) {
            const auto eq = flag.find('=');
            const auto name = flag.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
            const auto& rules = flag_rules(kind);
            if (rules.later.count(name)) {
                fail("flag --" + name + " of " + keyword_ + " is not supported yet");
            }
            if (!rules.accepted.count(name)) {
                fail("unknown flag: --" + name);
            }
            if (eq == std::string::npos || eq + 1 == flag.size()) {
                fail("missing a value on flag: --" + name);
            }
            if (!flags.emplace(name, flag.substr(eq + 1)).second) {
                fail("duplicate flag specified: --" + name);
            }
        }
        return flags;
    }

    void build_from(Instruction& out) const {
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
    }

    static bool valid_stage_name(std::string_view name) {
        const auto allowed = [](char c) {
            return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
        };
        return !name.empty() && name.front() >= 'a' && name.front() <= 'z' &&
               std::all_of(name.begin(), name.end(), allowed);
    }

    void build_command(Instruction& out) const {
        if (out.kind == Kind::run && args_.empty()) {
            fail("RUN requires at least one argument");
        }
        out.command = args_;
        out.shell_form = !node_.json && !args_.empty();
    }

    void build_copy(Instruction& out, const std::map<std::string, std::string>& flags) const {
        if (args_.size() < 2) {
            fail("COPY requires at least two arguments: one or more sources and a destination");
        }
        out.sources.assign(args_.begin(), args_.end() - 1);
        out.dest = args_.back();
        if (const auto from = flags.find("from"); from != flags.end()) {
            out.copy_from = from->second;
        }
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

    void build_workdir(Instruction& out) const {
        if (args_.size() != 1) {
            fail("WORKDIR requires exactly one argument");
        }
        out.path = args_[0];
    }

    const Node& node_;
    const Ast& ast_;
    std::string_view text_;
    std::string keyword_;
    std::vector<std::string> args_;
};

std::string caret_line(std::string_view source, int column) {
    // Keep tabs so the caret lines up; count UTF-8 characters, not bytes.
    std::string out;
    for (std::size_t i = 0; i + 1 < static_cast<std::size_t>(column) && i < source.size(); ++i) {
        const auto c = static_cast<unsigned char>(source[i]);
        if ((c & 0xC0) != 0x80) {
            out += c == '\t' ? '\t' : ' ';
        }
    }
    return out + "^";
}

std::string format_parse_error(const Location& where, std::string_view what, std::string_view source) {
    // Appended piece by piece: GCC 12 warns falsely (-Wrestrict) on long operator+ chains.
    std::string out = where.file;
    out.append(":").append(std::to_string(where.line)).append(":").append(std::to_string(where.column));
    out.append(": ").append(what);
    if (!source.empty()) {
        out.append("\n").append(source).append("\n").append(caret_line(source, where.column));
    }
    return out;
}

} // namespace

ParseError::ParseError(Location where, std::string_view what, std::string_view source_line)
    : Error(format_parse_error(where, what, source_line)), where_(std::move(where)) {}

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
