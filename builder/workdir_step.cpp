// WORKDIR: sets the working directory and, as BuildKit does, creates it (and its missing
// parents) owned by the USER in effect with mode 0755. When it exists already the step adds
// no layer, only an empty_layer history entry.
#include "builder/copy.hpp"
#include "builder/paths.hpp"
#include "builder/stage.hpp"
#include "sandbox/sandbox.hpp"
#include "sandbox/view.hpp"
#include "util/error.hpp"

#include <cerrno>
#include <sys/stat.h>

namespace strata::builder {

namespace {

// Creates `dir` under the snapshot unless the lower filesystem has it (following its
// symlinks, so WORKDIR /bin/x on a usr-merged image means /usr/bin/x).
void make_workdir(const fs::path& snapshot, const fs::path& lower, const std::string& dir, const CopyAttributes& owner) {
    const fs::path rel = resolve_relative(lower, dir, true);
    struct stat st {};
    if (::stat((lower / rel).c_str(), &st) == 0) {
        if (S_ISDIR(st.st_mode)) return;
        throw Error("WORKDIR " + dir + ": '/" + rel.string() + "' exists and is not a directory");
    }
    if (errno != ENOENT) throw_errno("stat", (lower / rel).string());
    make_parent_dirs(snapshot, lower, "/" + rel.string(), owner);
}

} // namespace

void workdir_step(StageBuild& stage, const parser::Instruction& step, ImageState& state) {
    for (const auto& flag : step.flag_names) throw Error("WORKDIR --" + flag + " is not supported");
    const std::string dir = join_container_path(state.working_dir(), stage.expand(step.path, stage.expansion_env(state)));
    state.runtime_config()["WorkingDir"] = dir;
    if (dir == "/") {
        state.add_history(step.original, true);
        return;
    }
    const auto layers = state.snapshot_dirs_topmost_first(stage.build.store);
    CopyAttributes owner;
    if (!state.user().empty()) {
        const auto user = sandbox::resolve_user(state.user(), layers);
        owner.uid = user.uid;
        owner.gid = user.gid;
    }
    const json record = {{"op", "workdir"},
                         {"parent", state.top_chain_id()},
                         {"path", dir},
                         {"owner", std::to_string(owner.uid) + ":" + std::to_string(owner.gid)}};
    stage.apply_step(step, state, record, [&](TempDir& snapshot) {
        TempDir view_dir(stage.build.store.tmp_dir(), "view-");
        const sandbox::ReadOnlyView lower(layers, view_dir.path());
        make_workdir(snapshot.path(), lower.path(), dir, owner);
    });
}

} // namespace strata::builder
