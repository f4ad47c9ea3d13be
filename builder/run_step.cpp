// RUN: the command in a sandbox over the stage's layers, its changes captured in the
// overlay upper directory, which becomes the step's snapshot as it is. --mount adds
// filesystems that never reach the layer (run_mounts.hpp), --network=none gives the
// command loopback only, and a heredoc script (#!) is mounted read-only and executed.
#include "builder/metadata.hpp"
#include "builder/run_mounts.hpp"
#include "builder/stage.hpp"
#include "util/error.hpp"
#include "util/sha256.hpp"

namespace strata::builder {

namespace {

std::string quote_argv(const std::vector<std::string>& argv) {
    std::string s;
    for (const auto& a : argv) s += (s.empty() ? "" : " ") + a;
    return s;
}

// A single heredoc whose body starts with "#!", given as the whole command (`RUN <<EOF`):
// BuildKit writes it to /dev/pipes/<name> (0755, read-only) and runs that through the shell.
struct HeredocScript {
    std::string path;  // in the container
    std::string content;
};

std::optional<HeredocScript> heredoc_script(const parser::Instruction& step) {
    if (!step.shell_form || step.heredocs.empty() || step.command.empty()) return std::nullopt;
    if (!parser::heredoc_word(step.command.front())) return std::nullopt;
    const parser::Heredoc& heredoc = step.heredocs.front();
    if (!heredoc.content.starts_with("#!")) return std::nullopt;
    if (heredoc.name.empty() || heredoc.name.find('/') != std::string::npos || heredoc.name == "." || heredoc.name == "..")
        throw Error("RUN <<" + heredoc.name + ": a heredoc script needs a name that is a plain file name");
    return HeredocScript{"/dev/pipes/" + heredoc.name, heredoc.data()};
}

// What the step runs and with what, settled before the cache is asked.
struct RunPlan {
    std::vector<std::string> argv;
    std::vector<std::string> env;
    std::string cwd;
    bool host_network = true;
    std::optional<HeredocScript> script;
};

void execute(StageBuild& stage, const ImageState& state, const RunPlan& plan, const RunMounts& mounts, TempDir& upper) {
    const BuildShared& build = stage.build;
    const TempDir scratch(build.store.tmp_dir(), "run-");
    const fs::path work = scratch.path() / "work";
    const fs::path sandbox_state = scratch.path() / "state";
    make_dirs(work);
    make_dirs(sandbox_state);
    // Declared after scratch, so its views and locks go first.
    ActiveMounts active(stage, mounts);
    if (plan.script) active.add_file(plan.script->path, plan.script->content, 0755);

    sandbox::Spec spec;
    spec.lower_dirs = state.snapshot_dirs_topmost_first(build.store);
    spec.upper_dir = upper.path();
    spec.work_dir = work;
    spec.state_dir = sandbox_state;
    spec.argv = plan.argv;
    spec.env = plan.env;
    // Secrets given with env= and SSH_AUTH_SOCK: never part of the record.
    spec.env.insert(spec.env.end(), active.env().begin(), active.env().end());
    spec.cwd = plan.cwd;
    const auto user = sandbox::resolve_user(state.user(), spec.lower_dirs);
    spec.uid = user.uid;
    spec.gid = user.gid;
    spec.groups = user.groups;
    spec.limits = build.options.limits;
    spec.host_network = plan.host_network;
    spec.mounts = active.sandbox_mounts();
    spec.stdin_fd = -1;
    spec.stdout_fd = build.progress.output_fd(stage.current_step());
    spec.stderr_fd = spec.stdout_fd;

    const sandbox::Result result = build.executor.run(spec);
    if (!result.exec_error.empty()) throw Error("RUN cannot start: " + result.exec_error);
    if (result.oom_killed)
        throw Error("RUN was killed: " + sandbox::describe_oom(build.options.limits) + ": " + quote_argv(plan.argv));
    if (result.exit_code != 0)
        throw Error("RUN failed with exit code " + std::to_string(result.exit_code) + ": " + quote_argv(plan.argv));
}

void refuse_unsupported_run(const parser::Instruction& step) {
    refuse_flags_except(step, {"mount", "network", "security"});
    if (step.security == "insecure")
        throw Error("RUN --security=insecure is not supported: it would need a build option like buildx's "
                    "--allow security.insecure, which strata does not have");
}

// docker's "default" network for RUN is the host's here, as it was before --network existed.
bool host_network(const parser::Instruction& step) { return step.network != "none"; }

} // namespace

void run_step(StageBuild& stage, const parser::Instruction& step, ImageState& state) {
    refuse_unsupported_run(step);
    RunPlan plan;
    plan.script = heredoc_script(step);
    plan.argv = shell_or_exec(step, state);
    if (plan.script) plan.argv.back() = plan.script->path;  // the shell runs the script's path
    plan.env = stage.run_env(state);
    plan.cwd = state.working_dir().empty() ? "/" : state.working_dir();
    plan.host_network = host_network(step);
    const RunMounts mounts(stage, step, state);

    json record = {{"op", "run"},      {"parent", state.top_chain_id()}, {"argv", plan.argv}, {"env", plan.env},
                   {"cwd", plan.cwd},  {"user", state.user()},           {"network", plan.host_network ? "host" : "none"}};
    // Only when present, so that the keys of plain RUN steps stay what they were.
    if (!step.mounts.empty()) record["mounts"] = mounts.record();
    if (plan.script) record["script"] = sha256_digest(plan.script->content);
    stage.apply_step(step, state, record, [&](TempDir& upper) { execute(stage, state, plan, mounts, upper); });
}

} // namespace strata::builder
