// strata save, strata load (image archives, store/exchange.hpp), and build's --output.
#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "sandbox/view.hpp"
#include "store/exchange.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

#include <cstdlib>
#include <fcntl.h>
#include <iostream>
#include <unistd.h>

namespace strata::cli {

namespace {

void write_archive(const store::Store& store, const std::vector<store::ExportImage>& images, store::ArchiveFormat format,
                   const std::string& dest) {
    if (dest.empty() || dest == "-") return store::write_image_archive(store, images, format, binary_stdout("an archive"));
    OutputFile file(dest);
    with_context("writing '" + dest + "'", [&] { store::write_image_archive(store, images, format, file.fd()); });
    file.commit();
}

struct SaveFlags {
    std::vector<std::string> images;
    std::string output;
    std::string format = "oci-archive";
};

void save(const SaveFlags& flags, const GlobalOptions& global) {
    const store::ArchiveFormat format = store::parse_archive_format(flags.format);
    store::Store store(global.root);
    // A prune must not remove blobs while they are being copied out.
    const store::GcLock reading = hold_store_for_use(store);
    write_archive(store, store::resolve_for_export(store, flags.images), format, flags.output);
}

struct LoadFlags {
    std::string input;
};

void load(const LoadFlags& flags, const GlobalOptions& global) {
    Fd file;
    std::string shown = "standard input";
    if (!flags.input.empty() && flags.input != "-") {
        file = Fd(::open(flags.input.c_str(), O_RDONLY | O_CLOEXEC));
        if (!file) throw_errno("open", flags.input);
        shown = flags.input;
    } else if (::isatty(STDIN_FILENO)) {
        throw Error("refusing to read an archive from a terminal: use -i FILE or redirect stdin");
    }
    store::Store store(global.root);
    const store::GcLock writing = hold_store_for_use(store);
    const auto loaded = store::load_image_archive(store, file ? file.get() : STDIN_FILENO, shown);
    for (const auto& image : loaded) {
        if (image.names.empty()) std::cout << "Loaded image ID: " << image.manifest.digest << "\n";
        for (const auto& name : image.names) std::cout << "Loaded image: " << name << "\n";
    }
}

// The image's files, its layers merged with their whiteouts applied, copied into dest.
void write_local_output(store::Store& store, const store::Descriptor& manifest, const fs::path& dest) {
    if (fs::exists(dest) && (!fs::is_directory(dest) || !fs::is_empty(dest)))
        throw Error("'" + dest.string() + "' is not an empty directory");
    make_dirs(dest);
    const auto snapshots = store.ensure_snapshots(store.load_image(manifest));
    TempDir scratch(store.tmp_dir(), "export-");
    const fs::path empty = scratch.path() / "empty", merged = scratch.path() / "merged";
    make_dirs(empty);
    make_dirs(merged);
    // Topmost first, over an empty bottom layer: always an overlay, even for one layer, so
    // that whiteouts and opaque directories are applied rather than copied.
    std::vector<fs::path> lowers(snapshots.rbegin(), snapshots.rend());
    lowers.push_back(empty);
    const sandbox::ReadOnlyView view(lowers, merged);
    copy_tree(view.path(), dest);
}

bool parse_bool(const std::string& key, const std::string& value) {
    if (value == "true" || value == "1") return true;
    if (value == "false" || value == "0") return false;
    throw Error("--output " + key + "=" + value + ": expected true or false");
}

} // namespace

BuildOutput parse_build_output(const std::string& spec) {
    BuildOutput out;
    if (spec.find('=') == std::string::npos) {
        // BuildKit's short form: a path is type=local; "-" would be type=tar, not supported.
        if (spec == "-") throw Error("--output -: type=tar is not supported; use type=oci-archive,dest=- or type=docker,dest=-");
        out.type = "local";
        out.dest = spec;
        return out;
    }
    std::size_t start = 0;
    while (start <= spec.size()) {
        const std::size_t comma = std::min(spec.find(',', start), spec.size());
        const std::string field = spec.substr(start, comma - start);
        start = comma + 1;
        const auto eq = field.find('=');
        if (eq == std::string::npos) throw Error("--output '" + spec + "': '" + field + "' is not KEY=VALUE");
        const std::string key = field.substr(0, eq), value = field.substr(eq + 1);
        if (key == "type") out.type = value;
        else if (key == "dest") out.dest = value;
        else if (key == "name") out.names.push_back(value);
        else if (key == "tar") out.tar = parse_bool(key, value);
        else throw Error("--output '" + spec + "': unknown key '" + key + "'");
    }
    if (out.type != "oci" && out.type != "oci-archive" && out.type != "docker" && out.type != "local")
        throw Error("--output '" + spec + "': type must be oci, oci-archive, docker or local");
    if (out.dest.empty()) throw Error("--output '" + spec + "': dest= is required");
    if (out.dest == "-" && !writes_archive(out))
        throw Error("--output '" + spec + "': dest=- (standard output) takes an archive: type=oci-archive or docker");
    if (out.tar && out.type != "oci") throw Error("--output '" + spec + "': tar= applies to type=oci only");
    return out;
}

bool writes_archive(const BuildOutput& output) {
    return output.type == "oci-archive" || output.type == "docker" || (output.type == "oci" && output.tar);
}

void write_build_output(store::Store& store, const BuildOutput& output, const store::Descriptor& manifest,
                        const std::vector<std::string>& tags) {
    with_context("--output type=" + output.type + ",dest=" + output.dest, [&] {
        if (output.type == "local") return write_local_output(store, manifest, output.dest);
        store::ExportImage image{manifest, {}};
        image.manifest.annotations.clear();
        for (const auto& name : output.names.empty() ? tags : output.names) image.names.push_back(store::normalize_tag(name));
        if (!writes_archive(output)) return store::write_image_layout(store, {image}, output.dest);
        const auto format = output.type == "docker" ? store::ArchiveFormat::docker : store::ArchiveFormat::oci;
        write_archive(store, {image}, format, output.dest);
    });
}

void add_save_load_commands(CLI::App& app, GlobalOptions& global) {
    auto save_flags = std::make_shared<SaveFlags>();
    auto* save_cmd = app.add_subcommand("save", "Write images to an archive (oci-archive or docker-archive)");
    save_cmd->add_option("image", save_flags->images, "Images: name[:tag], an image id or a digest")->required();
    save_cmd->add_option("-o,--output", save_flags->output, "Write to this file (default: standard output)");
    save_cmd->add_option("--format", save_flags->format,
                         "oci-archive or docker-archive (docker 25's layout, which older docker loads too)")
        ->capture_default_str();
    save_cmd->callback([save_flags, &global] { save(*save_flags, global); });

    auto load_flags = std::make_shared<LoadFlags>();
    auto* load_cmd = app.add_subcommand("load", "Load images from an archive (oci-archive or docker save output; plain or compressed)");
    load_cmd->add_option("-i,--input", load_flags->input, "Read from this file (default: standard input)");
    load_cmd->callback([load_flags, &global] { load(*load_flags, global); });
}

} // namespace strata::cli
