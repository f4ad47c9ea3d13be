#include "cli/container_flags.hpp"
#include "runner/bundle.hpp"
#include "sandbox/view.hpp"
#include "store/gc.hpp"
#include "util/error.hpp"

#include <iostream>

namespace strata::cli {

namespace {

void write_bundle(CLI::App& cmd, const ContainerFlags& container, GlobalOptions& global) {
    const auto rest = cmd.remaining();
    if (rest.size() < 2) throw Error("bundle: an image and a directory are required (strata bundle [OPTIONS] IMAGE DIR [COMMAND] [ARG...])");
    runner::RunOptions options = container_options(container);
    options.image = rest[0];
    options.command.assign(rest.begin() + 2, rest.end());
    // The layers are read through an overlay mounted where only this process sees it.
    sandbox::enter_private_mount_namespace();
    store::Store store(global.root);
    const store::GcLock reading = hold_store_for_use(store);
    runner::write_bundle(store, options, rest[1]);
}

} // namespace

void add_bundle_command(CLI::App& app, GlobalOptions& global) {
    auto container = std::make_shared<ContainerFlags>();
    auto* cmd = app.add_subcommand("bundle", "Write an OCI runtime bundle (config.json + rootfs) that runc runs as strata run would");
    cmd->prefix_command();
    add_container_flags(*cmd, container);
    cmd->callback([cmd, container, &global] { write_bundle(*cmd, *container, global); });
}

} // namespace strata::cli
