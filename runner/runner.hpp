#pragma once
// image -> container: unpacks what the store lacks, stacks the image's snapshots under a
// throw-away upper directory and runs the image's Entrypoint/Cmd in the sandbox.
#include "runner/run_flags.hpp"
#include "sandbox/sandbox.hpp"
#include "store/store.hpp"

#include <chrono>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace strata::runner {

struct RunOptions {
    std::string image;                       // tag, digest or id prefix
    std::vector<std::string> command;        // replaces the image's Cmd when not empty
    std::optional<std::string> entrypoint;   // --entrypoint: replaces Entrypoint ("" clears it)
    std::vector<std::string> env;            // -e K=V, or K to take the host's value
    std::string workdir;                     // -w
    std::string user;                        // -u
    std::string hostname;
    sandbox::Limits limits;
    std::vector<std::string> cap_add;   // docker capability names, with or without CAP_, or ALL
    std::vector<std::string> cap_drop;
    bool privileged = false;            // all capabilities, no seccomp, no masked paths: unsafe
    std::vector<MountRequest> mounts;   // -v, --mount, --tmpfs, in the order given
    bool read_only = false;             // --read-only root filesystem
    std::string network = "host";       // --network: host, or none (only loopback)
    bool interactive = false;           // -i: stdin is the container's; else /dev/null
    bool tty = false;                   // -t: the command's stdio is a pseudo-terminal
    std::string name;                   // --name: the container (its writable layer) is kept
    bool remove = false;                // --rm given with --name: removed after all
    std::optional<std::chrono::milliseconds> timeout;  // --timeout: killed after this long
    // --userns/--uidmap: container root is this unprivileged host range (sandbox::Spec::userns)
    std::optional<sandbox::IdMapping> userns;
};

// docker's rules: Entrypoint + (command or Cmd); --entrypoint drops the image's Cmd.
std::vector<std::string> container_argv(const nlohmann::json& image_config, const RunOptions& options);
// The image's Env with the -e entries applied (a later entry for a key replaces it in place).
std::vector<std::string> container_env(const nlohmann::json& image_config, const std::vector<std::string>& overrides);

// The sandbox spec for the image and options, but for the directories and mounts of one
// run: process, user, limits, privileges, network. Unpacks missing snapshots.
sandbox::Spec container_spec(store::Store& store, const RunOptions& options);

// Adds the sandbox mounts for -v/--mount/--tmpfs requests to spec: anonymous volumes go
// under anonymous_volumes; new volumes are filled from the image, read through a view
// mounted at view_dir (in a private mount namespace this process enters).
void mount_requests(sandbox::Spec& spec, store::Store& store, const std::vector<MountRequest>& requests,
                    const std::filesystem::path& anonymous_volumes, const std::filesystem::path& view_dir);

// docker commit: the kept container's writable layer as a new layer on its image, with
// the config it ran with (Cmd, Env, ...) and a history entry; returns the new manifest.
store::Descriptor commit_container(store::Store& store, const std::string& name, const std::string& message,
                                   long long created_seconds, const store::LayerCompression& compression = {});

// Runs the container to completion with this process's stdio and returns its exit code
// (126/127 when the command cannot be executed, as docker does).
int run(store::Store& store, const RunOptions& options, std::ostream& diagnostics);

} // namespace strata::runner
