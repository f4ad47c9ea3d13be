#pragma once
// The flags strata run and strata bundle share (docker run's), and the runner options
// they make.
#include "cli/commands.hpp"
#include "runner/runner.hpp"

#include <memory>
#include <string>
#include <vector>

namespace strata::cli {

struct ContainerFlags {
    std::vector<std::string> env;
    std::string entrypoint;
    bool entrypoint_set = false;
    std::string workdir;
    std::string user;
    std::string hostname;
    std::string memory;
    long long pids_limit = 0;
    std::vector<std::string> cap_add;
    std::vector<std::string> cap_drop;
    bool privileged = false;
    std::vector<std::string> env_files;
    std::vector<std::string> volumes;  // -v
    std::vector<std::string> mounts;   // --mount
    std::vector<std::string> tmpfs;    // --tmpfs
    bool read_only = false;
    std::string network = "host";
    std::string memory_swap;
    std::string cpus;
    std::string userns = "host";  // host, or auto (/etc/subuid and /etc/subgid)
    std::string uidmap;           // podman's 0:HOST:SIZE
    std::string gidmap;
};

void add_container_flags(CLI::App& cmd, const std::shared_ptr<ContainerFlags>& flags);
// Everything but the image and command.
runner::RunOptions container_options(const ContainerFlags& flags);

} // namespace strata::cli
