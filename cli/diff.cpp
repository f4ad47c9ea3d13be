// strata diff: the files added, deleted and changed between two images, or between an
// image and its base.
#include "builder/image_diff.hpp"
#include "cli/commands.hpp"
#include "sandbox/view.hpp"
#include "store/gc.hpp"
#include "util/error.hpp"

#include <iostream>

namespace strata::cli {

namespace {

struct DiffFlags {
    std::string image1;
    std::string image2;  // "": compare image1 with its base
    std::string format = "text";
};

void diff(const DiffFlags& flags, const GlobalOptions& global) {
    // Both images are read through overlays mounted where only this process sees them.
    sandbox::enter_private_mount_namespace();
    store::Store store(global.root);
    const store::GcLock reading = hold_store_for_use(store);  // snapshots may be unpacked
    const auto changes = flags.image2.empty()
                             ? builder::diff_with_base(store, store.load_image(flags.image1))
                             : builder::diff_images(store, store.load_image(flags.image1), store.load_image(flags.image2));
    if (flags.format == "json") {
        std::cout << builder::changes_json(changes).dump(2) << "\n";
        return;
    }
    for (const auto& change : changes) std::cout << builder::format_change(change) << "\n";
}

} // namespace

void add_diff_command(CLI::App& app, GlobalOptions& global) {
    auto flags = std::make_shared<DiffFlags>();
    auto* cmd = app.add_subcommand("diff", "Show the files added (A), deleted (D) and changed (C) from IMAGE1 to IMAGE2");
    cmd->footer(
        "With IMAGE1 alone, it is compared with its base: the same image without its top layer (the last\n"
        "history entry that made a layer), so a build's last RUN, COPY or ADD is what is shown.\n"
        "Changed means another type, mode, owner, size, symlink target, device, xattr or content;\n"
        "mtimes are not compared. Contents are compared byte for byte (files both images share from\n"
        "one layer are equal without reading). Output is sorted by path; everything inside an added\n"
        "or deleted directory is listed.");
    cmd->add_option("image1", flags->image1, "The image compared from (or, alone, the image compared with its base)")->required();
    cmd->add_option("image2", flags->image2, "The image compared to");
    cmd->add_option("--format", flags->format, "Output format")->check(CLI::IsMember({"text", "json"}));
    cmd->callback([flags, &global] { diff(*flags, global); });
}

} // namespace strata::cli
