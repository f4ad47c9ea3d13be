// RUN: the command in a sandbox over the stage's layers, its changes captured in the
// overlay upper directory, which becomes the step's snapshot as it is.
#include "builder/metadata.hpp"
#include "builder/stage.hpp"
#include "util/error.hpp"

namespace strata::builder {

namespace {

std::string quote_argv(const std::vector<std::string>& argv) {
    std::string s;
    for (const auto& a : argv) s += (s.empty() ? "" : " ") + a;
    return s;
}

void execute(StageBuild& stage, const ImageState& state, const std::vector<std::string>& argv,
             const std::vector<std::string>& env, const std::string& cwd, TempDir& upper) {
    const BuildShared& build = stage.build;
    const TempDir scratch(build.store.tmp_dir(), "run-");
    const fs::path work = scratch.path() / "work";
    const fs::path sandbox_state = scratch.path() / "state";
    make_dirs(work);
    make_dirs(sandbox_state);

    sandbox::Spec spec;
    spec.lower_dirs = state.snapshot_dirs_topmost_first(build.store);
    spec.upper_dir = upper.path();
    spec.work_dir = work;
    spec.state_dir = sandbox_state;
    spec.argv = argv;
    spec.env = env;
    spec.cwd = cwd;
    const auto user = sandbox::resolve_user(state.user(), spec.lower_dirs);
    spec.uid = user.uid;
    spec.gid = user.gid;
    spec.groups = user.groups;
    spec.limits = build.options.limits;
    spec.stdin_fd = -1;
    spec.stdout_fd = build.progress.output_fd(stage.current_step());
    spec.stderr_fd = spec.stdout_fd;

    const sandbox::Result result = build.executor.run(spec);
    if (!result.exec_error.empty()) throw Error("RUN cannot start: " + result.exec_error);
    if (result.oom_killed)
        throw Error("RUN was killed: " + sandbox::describe_oom(build.options.limits) + ": " + quote_argv(argv));
    if (result.exit_code != 0)
        throw Error("RUN failed with exit code " + std::to_string(result.exit_code) + ": " + quote_argv(argv));
}

// Ignoring a flag or a heredoc would build a different image than docker without a
// word, which is worse than failing.
void refuse_unsupported(const parser::Instruction& step) {
    for (const auto& flag : step.flag_names) throw Error("RUN --" + flag + " is not supported by the builder yet");
    if (step.heredocs.size() == 1 && step.heredocs[0].data().starts_with("#!"))
        throw Error("RUN with a heredoc script (#!) is not supported by the builder yet");
}

} // namespace

void run_step(StageBuild& stage, const parser::Instruction& step, ImageState& state) {
    refuse_unsupported(step);
    const std::vector<std::string> argv = shell_or_exec(step, state);
    const std::vector<std::string> env = stage.run_env(state);
    const std::string cwd = state.working_dir().empty() ? "/" : state.working_dir();
    const json record = {{"op", "run"},    {"parent", state.top_chain_id()}, {"argv", argv}, {"env", env},
                         {"cwd", cwd},     {"user", state.user()},           {"network", "host"}};
    stage.apply_step(step, state, record, [&](TempDir& upper) { execute(stage, state, argv, env, cwd, upper); });
}

} // namespace strata::builder
