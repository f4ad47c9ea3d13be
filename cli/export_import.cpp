// strata export and strata import: an image's filesystem out as one tar, a rootfs tar in
// as a one-layer image (docker export / docker import).
#include "builder/import.hpp"
#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "sandbox/view.hpp"
#include "store/gc.hpp"
#include "store/reference.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"
#include "util/fs.hpp"

#include <cstdio>
#include <iostream>
#include <sys/stat.h>
#include <unistd.h>

namespace strata::cli {

namespace {

struct ExportFlags {
    std::string image;
    std::string output;
};

struct ImportFlags {
    std::string file;
    std::string name;
    std::vector<std::string> changes;
    std::string message;
    CompressionFlags compression;
};


void export_filesystem(const ExportFlags& flags, const GlobalOptions& global) {
    const int out_fd = flags.output.empty() ? binary_stdout("a tar") : -1;
    // The layers are read through an overlay mounted where only this process sees it.
    sandbox::enter_private_mount_namespace();
    store::Store store(global.root);
    const store::GcLock reading = hold_store_for_use(store);  // snapshots may be unpacked
    const store::Image image = store.load_image(flags.image);
    if (flags.output.empty()) {
        builder::export_image(store, image, [out_fd](const void* data, std::size_t size) { write_all(out_fd, data, size, "stdout"); });
        return;
    }
    OutputFile out(flags.output);
    builder::export_image(store, image, [&out, &flags](const void* data, std::size_t size) {
        write_all(out.fd(), data, size, flags.output.c_str());
    });
    out.commit();
}

void import_filesystem(const ImportFlags& flags, const GlobalOptions& global) {
    if (!flags.name.empty()) store::normalize_tag(flags.name);  // a bad name is refused before any work
    builder::ImportOptions options;
    options.source = flags.file;
    options.changes = flags.changes;
    options.message = flags.message;
    options.created_seconds = now_or_source_date_epoch();
    options.compression = flags.compression.parse();
    store::Store store(global.root);
    const store::GcLock writing = hold_store_for_use(store);
    const fs::path archive = flags.file == "-" ? fs::path("/dev/stdin") : fs::path(flags.file);
    const store::Descriptor manifest = builder::import_image(store, archive, options);
    if (!flags.name.empty()) store.tag(flags.name, manifest);
    std::cout << manifest.digest << "\n";
}

} // namespace

void add_export_import_commands(CLI::App& app, GlobalOptions& global) {
    auto exported = std::make_shared<ExportFlags>();
    auto* export_cmd = app.add_subcommand(
        "export", "Write an image's filesystem (all layers merged, deletions applied) as one tar, as docker export does");
    export_cmd->add_option("image", exported->image, "The image (tag, digest or ID prefix)")->required();
    export_cmd->add_option("-o,--output", exported->output, "Write to FILE instead of stdout (which must not be a terminal)");
    export_cmd->callback([exported, &global] { export_filesystem(*exported, global); });

    auto imported = std::make_shared<ImportFlags>();
    auto* import_cmd = app.add_subcommand(
        "import", "Make a one-layer image from a rootfs tar (plain, gzip, bzip2, xz or zstd), as docker import does");
    import_cmd->add_option("file", imported->file, "The tar archive, or - to read it from stdin")->required();
    import_cmd->add_option("name", imported->name, "Tag the new image NAME[:TAG]");
    import_cmd->add_option("-c,--change", imported->changes,
                           "A Dockerfile instruction for the config: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, "
                           "STOPSIGNAL, USER, VOLUME or WORKDIR; repeatable")
        ->allow_extra_args(false);
    import_cmd->add_option("-m,--message", imported->message, "The history comment (default: Imported from FILE)");
    add_compression_options(import_cmd, imported->compression);
    import_cmd->callback([imported, &global] { import_filesystem(*imported, global); });
}

} // namespace strata::cli
