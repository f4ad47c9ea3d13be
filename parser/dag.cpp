// Typed instructions -> stages and the edges between them (FROM <stage>, COPY --from).
// A stage may only use stages defined before it, so the graph cannot have cycles and
// file order restricted to what the target reaches is a valid build order.
#include "parser/buildfile.hpp"
#include "parser/instructions.hpp"
#include "parser/node.hpp"
#include "parser/text.hpp"

#include <algorithm>
#include <set>

namespace strata::parser {

namespace {

std::string describe(const Location& loc) {
    return loc.file + ":" + std::to_string(loc.line) + ":" + std::to_string(loc.column);
}

class DagBuilder {
public:
    DagBuilder(std::string_view text, const ParseOptions& options)
        : text_(text), options_(options), ast_(parse_ast(text, options.filename)),
          global_env_(options.predefined_args.begin(), options.predefined_args.end()) {}

    Dag build() {
        for (const auto& node : ast_.root.children) {
            add(node, to_instruction(node, ast_, text_));
        }
        if (dag_.stages.empty()) {
            const auto& last = ast_.root.children.back();
            fail_at(last, ast_, text_, "no FROM instruction: a Buildfile needs at least one stage");
        }
        for (auto& stage : dag_.stages) {
            resolve_edges(stage);
        }
        dag_.escape = ast_.escape;
        dag_.directives = ast_.directives;
        dag_.target = find_target();
        dag_.build_order = reachable_from(dag_.target);
        return std::move(dag_);
    }

private:
    void add(const Node& node, Instruction instruction) {
        if (instruction.kind == Kind::from) {
            start_stage(node, instruction);
        } else if (!dag_.stages.empty()) {
            dag_.stages.back().steps.push_back(std::move(instruction));
        } else if (instruction.kind == Kind::arg) {
            add_global_args(node, instruction);
        } else {
            fail_at(node, ast_, text_,
                    std::string(kind_name(instruction.kind)) +
                        " before the first FROM: only ARG may come before FROM");
        }
    }

    // Global ARGs are visible to FROM lines only. --build-arg overrides a declared ARG;
    // defaults may refer to ARGs declared earlier.
    void add_global_args(const Node& node, const Instruction& instruction) {
        for (auto pair : instruction.pairs) {
            if (const auto given = options_.build_args.find(pair.key); given != options_.build_args.end()) {
                pair.value = given->second;
            } else if (pair.value) {
                pair.value = expand_at(node, *pair.value);
            } else if (const auto predefined = options_.predefined_args.find(pair.key);
                       predefined != options_.predefined_args.end()) {
                pair.value = predefined->second;
            }
            if (pair.value) {
                global_env_[pair.key] = *pair.value;
            } else {
                global_env_.erase(pair.key);
            }
            dag_.global_args.push_back(std::move(pair));
        }
    }

    void start_stage(const Node& node, const Instruction& from) {
        Stage stage;
        stage.index = static_cast<int>(dag_.stages.size());
        stage.name = from.stage_name;
        stage.loc = from.loc;
        stage.base = expand_at(node, from.image);
        stage.platform = expand_at(node, from.platform);
        if (stage.base.empty()) {
            fail_at(node, ast_, text_, "FROM: base name \"" + from.image + "\" expands to an empty string");
        }
        if (!stage.name.empty()) {
            for (const auto& earlier : dag_.stages) {
                if (earlier.name == stage.name) {
                    fail_at(node, ast_, text_,
                            "duplicate stage name \"" + stage.name + "\", first defined at " + describe(earlier.loc));
                }
            }
        }
        dag_.stages.push_back(std::move(stage));
    }

    std::string expand_at(const Node& node, std::string_view word) {
        try {
            return expand_word(word, global_env_, ast_.escape);
        } catch (const ParseError&) {
            throw;
        } catch (const Error& e) {
            fail_at(node, ast_, text_, e.message());
        }
    }

    const Stage* stage_named(std::string_view name) const {
        const auto wanted = ascii_lower(name);
        for (const auto& stage : dag_.stages) {
            if (!stage.name.empty() && stage.name == wanted) {
                return &stage;
            }
        }
        return nullptr;
    }

    [[noreturn]] void fail_at_location(const Location& loc, const std::string& message) const {
        throw ParseError(loc, message, source_line(text_, loc.line));
    }

    // `user` (at its own location) may only use `used` if it comes earlier.
    void require_earlier(const Stage& user, const Location& where, const Stage& used, const std::string& what) const {
        if (used.index == user.index) {
            fail_at_location(where, what + " refers to its own stage (" + describe(user.loc) + ")");
        }
        if (used.index > user.index) {
            fail_at_location(where, what + " refers to stage " + std::to_string(used.index) + " defined later at " +
                                        describe(used.loc) + "; a stage can only use stages defined before it");
        }
    }

    void resolve_edges(Stage& stage) {
        if (const Stage* base = stage_named(stage.base)) {
            require_earlier(stage, stage.loc, *base, "FROM " + stage.base);
            stage.base_stage = base->index;
            stage.base.clear();
            stage.deps.push_back(base->index);
        }
        for (auto& step : stage.steps) {
            if (step.kind == Kind::copy && !step.copy_from.empty()) {
                resolve_copy_from(stage, step);
            }
            for (auto& mount : step.mounts) {
                if (mount.from.empty()) {
                    continue;
                }
                if (const Stage* source = stage_or_index(mount.from, step.loc, "RUN --mount from=")) {
                    require_earlier(stage, step.loc, *source, "RUN --mount from=" + mount.from);
                    mount.from_stage = source->index;
                    stage.deps.push_back(source->index);
                }
            }
        }
        std::sort(stage.deps.begin(), stage.deps.end());
        stage.deps.erase(std::unique(stage.deps.begin(), stage.deps.end()), stage.deps.end());
    }

    // BuildKit expands --from with the global ARGs before it looks for a stage of that name.
    void resolve_copy_from(Stage& stage, Instruction& step) {
        try {
            step.copy_from_expanded = expand_word(step.copy_from, global_env_, ast_.escape);
        } catch (const ParseError&) {
            throw;
        } catch (const Error& e) {
            fail_at_location(step.loc, "COPY --from=" + step.copy_from + ": " + e.message());
        }
        if (const Stage* source = stage_or_index(step.copy_from_expanded, step.loc, "COPY --from=")) {
            require_earlier(stage, step.loc, *source, "COPY --from=" + step.copy_from);
            step.copy_from_stage = source->index;
            stage.deps.push_back(source->index);
        }
    }

    // A stage name or index; anything else is an image reference.
    const Stage* stage_or_index(const std::string& from, const Location& where, const std::string& what) const {
        if (const Stage* named = stage_named(from)) {
            return named;
        }
        if (from.empty() || from.size() > 9 ||
            !std::all_of(from.begin(), from.end(), [](char c) { return c >= '0' && c <= '9'; })) {
            return nullptr;
        }
        const auto index = static_cast<std::size_t>(std::stoi(from));
        if (index >= dag_.stages.size()) {
            fail_at_location(where, what + from + ": there is no stage " + from + " (the file has " +
                                        std::to_string(dag_.stages.size()) + " stages)");
        }
        return &dag_.stages[index];
    }

    int find_target() const {
        if (options_.target.empty()) {
            return static_cast<int>(dag_.stages.size()) - 1;
        }
        if (const Stage* stage = stage_named(options_.target)) {
            return stage->index;
        }
        throw Error("target stage \"" + options_.target + "\" could not be found in " + options_.filename);
    }

    std::vector<int> reachable_from(int target) const {
        std::set<int> reached;
        std::vector<int> pending{target};
        while (!pending.empty()) {
            const int index = pending.back();
            pending.pop_back();
            if (reached.insert(index).second) {
                const auto& deps = dag_.stages[static_cast<std::size_t>(index)].deps;
                pending.insert(pending.end(), deps.begin(), deps.end());
            }
        }
        // Every edge points to an earlier stage, so ascending order has dependencies first.
        return {reached.begin(), reached.end()};
    }

    std::string_view text_;
    const ParseOptions& options_;
    Ast ast_;
    Dag dag_;
    Environment global_env_;
};

} // namespace

Dag parse_buildfile(std::string_view text, const ParseOptions& options) {
    return DagBuilder(text, options).build();
}

} // namespace strata::parser
