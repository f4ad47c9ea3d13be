// docker import and docker export: a rootfs tar in, an image's flattened filesystem out.
#include "builder/import.hpp"

#include "builder/archive.hpp"
#include "builder/metadata.hpp"
#include "parser/buildfile.hpp"
#include "sandbox/view.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

#include <algorithm>
#include <array>

namespace strata::builder {

namespace {

using K = parser::Kind;

// docker import's list (builder/dockerfile: the instructions allowed in --change).
constexpr std::array allowed_changes = {K::cmd,  K::entrypoint, K::env,    K::expose, K::label,
                                        K::onbuild, K::stopsignal, K::user, K::volume, K::workdir};

// "Buildfile:2:1: unknown instruction: FOO\n<line>\n<caret>" -> "unknown instruction: FOO":
// the position is in the two-line text parse_change makes, which the user never wrote.
std::string without_location(const std::string& message) {
    std::string text = message.substr(0, message.find('\n'));
    for (int colons = 0; colons < 3; ++colons) {
        const auto at = text.find(':');
        if (at == std::string::npos) return message;
        text.erase(0, at + 1);
    }
    return text.starts_with(" ") ? text.substr(1) : text;
}

// One --change, parsed as the single instruction of a stage (the parser wants a FROM).
parser::Instruction parse_change(const std::string& change) {
    parser::Dag dag;
    try {
        dag = parser::parse_buildfile("FROM scratch\n" + change + "\n", parser::ParseOptions{});
    } catch (const parser::ParseError& e) {
        throw Error(without_location(e.what()));
    }
    if (dag.stages.size() != 1 || dag.stages.front().steps.size() != 1)
        throw Error("a change must be exactly one instruction");
    const parser::Instruction& step = dag.stages.front().steps.front();
    if (std::find(allowed_changes.begin(), allowed_changes.end(), step.kind) == allowed_changes.end())
        throw Error(std::string(parser::kind_name(step.kind)) +
                    " is not allowed (only CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR)");
    return step;
}

json import_history(const ImportOptions& options, const std::string& created) {
    return {{"created", created}, {"comment", options.message.empty() ? "Imported from " + options.source : options.message}};
}

} // namespace

void apply_changes(ImageState& state, const std::vector<std::string>& changes) {
    const json history = state.config["history"];  // apply_metadata's entries are a build's, not an import's
    MetadataContext context;
    for (const auto& change : changes) {
        with_context("--change '" + change + "'", [&] {
            const parser::Instruction step = parse_change(change);
            context.env = state.env();  // an ENV change is seen by the changes after it
            apply_metadata(step, state, context);
        });
    }
    state.config["history"] = history;
}

store::Descriptor import_image(store::Store& store, const fs::path& archive, const ImportOptions& options) {
    ImageState state = scratch_state(format_rfc3339(options.created_seconds));
    apply_changes(state, options.changes);  // first: a bad --change costs no unpacking
    state.config["history"] = json::array({import_history(options, state.created)});
    state.config["created"] = state.created;

    TempDir staging = store.new_snapshot_staging();
    with_context("importing '" + options.source + "'", [&] {
        // ADD's extraction fills directories the archive does not list from the image
        // below; an import has none, so it is given an empty one.
        const TempDir no_lower(store.tmp_dir(), "import-lower-");
        extract_tar(archive, staging.path(), no_lower.path());
    });
    // The layer is strata's own deterministic tar of what was extracted, not the input's
    // bytes: the same files give the same layer whatever tool wrote the archive.
    store::LayerOptions layer_options;
    layer_options.compression = options.compression;
    const auto committed = store.commit_layer(std::move(staging), "", layer_options);
    state.add_layer(committed.layer.descriptor, committed.layer.diff_id, committed.chain_id);
    return store.write_image(state.config, state.layers);
}

void export_image(store::Store& store, const store::Image& image, const store::TarSink& sink) {
    const auto bottom_first = store.ensure_snapshots(image);
    const std::vector<fs::path> topmost_first(bottom_first.rbegin(), bottom_first.rend());
    const TempDir mountpoint(store.tmp_dir(), "export-");
    const sandbox::ReadOnlyView view(topmost_first, mountpoint.path());
    store::write_tree_tar(view.path(), sink, {}, store::TreeKind::flattened);
}

} // namespace strata::builder
