// --check-reproducible: two builds in fresh stores, then the first difference between the
// two images, layer by layer (the tars compared entry by entry), then the config.
#include "builder/reproducible.hpp"

#include "builder/stage.hpp"
#include "store/layer_compare.hpp"
#include "util/error.hpp"
#include "util/fd.hpp"

#include <cerrno>
#include <fcntl.h>
#include <set>
#include <unistd.h>

namespace strata::builder {

namespace {

// The images the build reads from the store: FROM bases, COPY --from and RUN --mount
// from= images (as written when not expanded by the DAG; an unknown one fails the build
// in the fresh store with the usual message).
std::set<std::string> image_references(const BuildOptions& options) {
    parser::ParseOptions parse_options;
    parse_options.filename = options.buildfile_name;
    parse_options.build_args = options.build_args;
    parse_options.target = options.target;
    parse_options.predefined_args = predefined_args();
    const parser::Dag dag = parser::parse_buildfile(options.buildfile_text, parse_options);
    std::set<std::string> references;
    for (const int index : dag.build_order) {
        const parser::Stage& stage = dag.stages.at(static_cast<std::size_t>(index));
        if (!stage.base_stage && !stage.base.empty() && stage.base != "scratch") references.insert(stage.base);
        for (const auto& step : stage.steps) {
            if (!step.copy_from.empty() && !step.copy_from_stage)
                references.insert(step.copy_from_expanded.empty() ? step.copy_from : step.copy_from_expanded);
            for (const auto& mount : step.mounts)
                if (!mount.from.empty() && !mount.from_stage) references.insert(mount.from);
        }
    }
    return references;
}

// Streams a blob into another store, verified against its digest.
void copy_blob(const store::Store& from, store::Store& to, const store::Descriptor& blob) {
    Fd in(::open(from.blob_path(blob.digest).c_str(), O_RDONLY | O_CLOEXEC));
    if (!in) throw_errno("open", from.blob_path(blob.digest).string());
    store::BlobWriter writer = to.new_blob();
    std::vector<char> buffer(128 * 1024);
    while (const std::size_t n = read_some(in.get(), buffer.data(), buffer.size(), "blob")) writer.write(buffer.data(), n);
    writer.commit(blob.media_type, blob.digest);
}

// Blobs never change once named, so the fresh store may share the inode; a copy only
// where a hard link cannot be made.
void share_blob(const store::Store& from, store::Store& to, const store::Descriptor& blob) {
    if (to.has_blob(blob.digest)) return;
    const fs::path target = to.blob_path(blob.digest);
    if (::link(from.blob_path(blob.digest).c_str(), target.c_str()) == 0) return;
    if (errno != EXDEV && errno != EPERM) throw_errno("link", target.string());
    copy_blob(from, to, blob);
}

// Gives `to` the image `reference` names in `from`, under the same name.
void seed_image(const store::Store& from, store::Store& to, const std::string& reference) {
    const auto manifest = from.resolve(reference);
    if (!manifest) return;  // the build says so, as it would in `from`
    const store::Image image = from.load_image(*manifest);
    for (const auto& layer : image.layers()) share_blob(from, to, layer);
    share_blob(from, to, store::descriptor_from_json(image.manifest.at("config")));
    share_blob(from, to, image.manifest_descriptor);
    if (image.manifest_descriptor.digest != manifest->digest) share_blob(from, to, *manifest);  // an index above it
    try {
        to.tag(reference, *manifest);
    } catch (const Error&) {
        // An id or digest reference is no name to tag with; the build reports it missing.
    }
}

BuildResult build_in(const fs::path& root, const store::Store& source, const std::set<std::string>& references,
                     Executor& executor, const BuildOptions& options, std::ostream& progress) {
    store::Store fresh(root);
    for (const auto& reference : references) seed_image(source, fresh, reference);
    return build(fresh, executor, options, progress);
}

// "RUN date > f": what made the index-th layer, from the history entries that have one.
std::string step_of(const store::Image& image, std::size_t index) {
    const auto history = image.config.find("history");
    if (history == image.config.end() || !history->is_array()) return "";
    std::size_t seen = 0;
    for (const auto& entry : *history) {
        if (entry.value("empty_layer", false)) continue;
        if (seen++ == index) return entry.value("created_by", "");
    }
    return "";
}

std::string layer_difference(const store::Store& a, const store::Store& b, const store::Image& ia, const store::Image& ib) {
    const auto la = ia.layers(), lb = ib.layers();
    const auto da = ia.diff_ids(), db = ib.diff_ids();
    const std::size_t common = std::min(da.size(), db.size());
    for (std::size_t i = 0; i < common; ++i) {
        if (da[i] == db[i] && la[i].digest == lb[i].digest) continue;
        std::string where = "layer " + std::to_string(i + 1) + " of " + std::to_string(da.size());
        if (const std::string step = step_of(ia, i); !step.empty()) where += " (" + step + ")";
        if (da[i] == db[i]) return where + ": the same tar compressed to different bytes";
        const auto d = store::first_tar_difference(a.blob_path(la[i].digest), b.blob_path(lb[i].digest));
        if (!d) return where + ": every entry agrees, the tar headers' bytes differ";
        return where + ": first differing file: " + d->path + " (" + d->detail + ")";
    }
    if (da.size() != db.size())
        return "the first image has " + std::to_string(da.size()) + " layers, the second " + std::to_string(db.size());
    return "";
}

// The first top-level config field that differs, with both values when they are short.
std::string config_difference(const store::Image& ia, const store::Image& ib) {
    for (const auto& [key, value] : ia.config.items()) {
        const auto other = ib.config.find(key);
        if (other != ib.config.end() && *other == value) continue;
        const std::string theirs = other == ib.config.end() ? "missing" : other->dump();
        const std::string ours = value.dump();
        if (ours.size() + theirs.size() > 200) return "config: " + key;
        return "config: " + key + " (" + ours + " vs " + theirs + ")";
    }
    return "config: a field only the second image has";
}

std::string first_difference(const fs::path& root_a, const fs::path& root_b, const BuildResult& a, const BuildResult& b) {
    const store::Store sa(root_a), sb(root_b);
    const store::Image ia = sa.load_image(a.manifest), ib = sb.load_image(b.manifest);
    if (std::string layers = layer_difference(sa, sb, ia, ib); !layers.empty()) return layers;
    if (a.config_digest != b.config_digest) return config_difference(ia, ib);
    return "the manifests differ (same config and layers)";
}

} // namespace

ReproducibilityReport check_reproducible(store::Store& store, Executor& executor, BuildOptions options,
                                         std::ostream& progress) {
    options.source_date_epoch = options.source_date_epoch.value_or(default_check_epoch);
    options.tags.clear();
    options.no_cache = false;  // fresh stores hold no cache anyway
    options.explain = false;
    const std::set<std::string> references = image_references(options);
    // Bases the store lacks are pulled into it first (as --pull says), so both builds are
    // seeded with the same images and neither pulls: a tag that moved between them would
    // be a difference of the registry's, not the build's.
    BaseImages main_images(store, options.pull, options.puller);
    for (const auto& reference : references) {
        if (!store.resolve(reference) || options.pull == PullPolicy::always) main_images.resolve(reference, "FROM " + reference);
    }
    options.puller = nullptr;
    const TempDir work(store.tmp_dir(), "check-reproducible-");
    const fs::path root_a = work.path() / "first", root_b = work.path() / "second";

    progress << "check-reproducible: first build (SOURCE_DATE_EPOCH=" << *options.source_date_epoch << ")\n";
    const BuildResult a = build_in(root_a, store, references, executor, options, progress);
    // A different schedule: the second build runs one stage at a time.
    options.jobs = 1;
    progress << "check-reproducible: second build, one stage at a time\n" << std::flush;
    const BuildResult b = build_in(root_b, store, references, executor, options, progress);

    ReproducibilityReport report{a.manifest.digest, b.manifest.digest, ""};
    if (!report.reproducible()) report.difference = first_difference(root_a, root_b, a, b);
    return report;
}

} // namespace strata::builder
