#include "builder/lock.hpp"

#include "builder/stage.hpp"
#include "store/platform.hpp"
#include "store/reference.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/sha256.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace strata::builder {

namespace {

// The normalised name ("docker.io/library/alpine:latest"), or none for what is no name
// (an image id).
std::optional<std::string> normalised_name(const std::string& reference) {
    try {
        return store::with_default_tag(store::parse_reference(reference)).string();
    } catch (const Error&) {
        return std::nullopt;
    }
}

std::string location(const parser::Location& loc) { return loc.file + ":" + std::to_string(loc.line); }

std::string required_digest(const json& entry, const char* key, const std::string& reference) {
    const auto it = entry.find(key);
    if (it == entry.end() || !it->is_string() || !is_sha256_digest(it->get<std::string>()))
        throw Error("image '" + reference + "': \"" + key + "\" is not a sha256 digest");
    return it->get<std::string>();
}

LockedImage parse_entry(const std::string& reference, const json& entry) {
    if (!entry.is_object()) throw Error("image '" + reference + "' is not a JSON object");
    LockedImage image;
    const auto name = entry.find("name");
    if (name == entry.end() || !name->is_string()) throw Error("image '" + reference + "' has no \"name\"");
    image.name = name->get<std::string>();
    if (normalised_name(image.name) != image.name)
        throw Error("image '" + reference + "': \"name\" '" + image.name + "' is not a normalised reference");
    image.digest = required_digest(entry, "digest", reference);
    image.manifest = required_digest(entry, "manifest", reference);
    const auto local = entry.find("local");
    if (local != entry.end() && !local->is_boolean()) throw Error("image '" + reference + "': \"local\" is not true or false");
    image.local = local != entry.end() && local->get<bool>();
    return image;
}

} // namespace

std::string LockedImage::pinned() const {
    store::Reference ref = store::parse_reference(name);
    ref.tag.clear();
    ref.digest = local ? digest : manifest;  // a local name may list an index: its digest is the stored one
    return ref.string();
}

const LockedImage* LockFile::find(const std::string& reference) const {
    if (const auto it = images.find(reference); it != images.end()) return &it->second;
    const auto name = normalised_name(reference);
    if (!name) return nullptr;
    for (const auto& [written, image] : images)
        if (image.name == *name) return &image;
    return nullptr;
}

std::string lock_to_text(const LockFile& lock) {
    json images = json::object();
    for (const auto& [reference, image] : lock.images) {
        json entry{{"name", image.name}, {"digest", image.digest}, {"manifest", image.manifest}};
        if (image.local) entry["local"] = true;
        images[reference] = std::move(entry);
    }
    // nlohmann's objects are std::maps: keys come out sorted.
    return json{{"version", lock_version}, {"platform", lock.platform}, {"images", std::move(images)}}.dump(2) + "\n";
}

LockFile parse_lock(std::string_view text, const fs::path& path) {
    return with_context("lock file '" + path.string() + "'", [&] {
        const json doc = json::parse(text, nullptr, false);
        if (doc.is_discarded() || !doc.is_object()) throw Error("not a JSON object");
        const auto version = doc.find("version");
        if (version == doc.end() || !version->is_number_integer()) throw Error("no \"version\"");
        if (*version != lock_version)
            throw Error("version " + version->dump() + " is not one this strata reads (" + std::to_string(lock_version) + ")");
        LockFile lock;
        lock.path = path;
        const auto platform = doc.find("platform");
        if (platform == doc.end() || !platform->is_string()) throw Error("no \"platform\"");
        lock.platform = platform->get<std::string>();
        with_context("\"platform\"", [&] { store::parse_platform(lock.platform); });
        const auto images = doc.find("images");
        if (images == doc.end() || !images->is_object()) throw Error("no \"images\" object");
        for (const auto& [reference, entry] : images->items()) lock.images[reference] = parse_entry(reference, entry);
        return lock;
    });
}

LockFile read_lock(const fs::path& path) {
    const std::string text = with_context("reading lock file", [&] { return read_file(path); });
    return parse_lock(text, path);
}

void write_lock(const fs::path& path, const LockFile& lock) {
    with_context("writing lock file '" + path.string() + "'", [&] { write_file_atomic(path, lock_to_text(lock)); });
}

fs::path default_lock_path(const fs::path& buildfile_path, const fs::path& context_dir) {
    const fs::path dir = buildfile_path.empty() ? context_dir : buildfile_path.parent_path();
    return (dir.empty() ? fs::path(".") : dir) / lock_file_name;
}

std::vector<ImageUse> image_uses(const parser::Dag& dag, const std::vector<int>& stages) {
    std::vector<ImageUse> uses;
    for (const auto& stage : dag.stages) {
        if (!stages.empty() && std::find(stages.begin(), stages.end(), stage.index) == stages.end()) continue;
        if (!stage.base_stage && !stage.base.empty() && stage.base != "scratch") uses.push_back({stage.base, stage.loc, "FROM"});
        for (const auto& step : stage.steps) {
            if (!step.copy_from.empty() && !step.copy_from_stage)
                uses.push_back({step.copy_from_expanded.empty() ? step.copy_from : step.copy_from_expanded, step.loc, "COPY --from"});
            for (const auto& mount : step.mounts)
                if (!mount.from.empty() && !mount.from_stage)
                    uses.push_back({mount.from, step.loc, "RUN --mount from="});  // the parser refuses variables in it
        }
    }
    // An image id names what is stored, nothing a registry could move: nothing to lock.
    std::erase_if(uses, [](const ImageUse& use) { return is_sha256_digest(use.reference) || store::is_image_id(use.reference); });
    return uses;
}

std::vector<ImageUse> buildfile_image_uses(std::string_view text, const std::string& filename,
                                           const std::map<std::string, std::string>& build_args) {
    parser::ParseOptions options;
    options.filename = filename;
    options.build_args = build_args;
    options.predefined_args = predefined_args();
    return image_uses(parser::parse_buildfile(text, options));
}

void check_lock_covers(const LockFile& lock, const std::vector<ImageUse>& uses, const std::string& platform) {
    if (store::parse_platform(lock.platform) != store::parse_platform(platform))
        throw Error("lock file '" + lock.path.string() + "' is for " + lock.platform + ", this build for " + platform +
                    ": run `strata lock` again (or build with --no-lock)");
    for (const auto& use : uses) {
        if (lock.find(use.reference)) continue;
        throw Error(location(use.loc) + ": " + use.instruction + " " + use.reference + ": '" + use.reference +
                    "' is not in lock file '" + lock.path.string() + "': run `strata lock` again (or build with --no-lock)");
    }
}

} // namespace strata::builder
