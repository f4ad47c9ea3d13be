// strata save / load without privileges: round trips through both archive formats,
// docker 20.10's legacy archives, compressed archives, and hostile archives refused.
#include "helpers.hpp"

#include "store/exchange.hpp"
#include "util/sha256.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <fcntl.h>
#include <sys/utsname.h>
#include <unistd.h>

namespace exchange_test {  // this file's own names: a folder's tests compile as unity batches

using namespace strata;
using namespace strata::store;
using namespace strata::store::test;

namespace {

json config_for(const std::vector<std::string>& diff_ids) {
    return json{{"architecture", "amd64"},
                {"os", "linux"},
                {"config", {{"Env", {"PATH=/bin"}}, {"Cmd", {"/bin/sh"}}}},
                {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}}};
}

// A store holding two real images: "app:1" (two layers, the second deleting a file of
// the first) and "base" (its first layer only).
struct Source {
    TempDir dir{test_tmp(), "exchange-"};
    Store store{dir.path() / "store"};
    Descriptor app, base;
    std::vector<Layer> layers;

    Source() {
        const fs::path l1 = dir.path() / "l1", l2 = dir.path() / "l2";
        write_text(l1 / "etc/hello", "hello\n");
        write_text(l1 / "etc/gone", "to be deleted\n");
        write_text(l2 / "app/run.sh", "#!/bin/sh\necho hi\n");
        layers.push_back(store.write_layer(l1, {0}));
        layers.push_back(store.write_layer(l2, {0}));
        base = store.write_image(config_for({layers[0].diff_id}), {layers[0].descriptor});
        app = store.write_image(config_for({layers[0].diff_id, layers[1].diff_id}),
                                {layers[0].descriptor, layers[1].descriptor});
        store.tag("app:1", app);
        store.tag("base", base);
    }

    fs::path save(const std::vector<std::string>& refs, ArchiveFormat format, const std::string& name = "out.tar") {
        const fs::path file = dir.path() / name;
        const Fd fd(::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
        REQUIRE(fd);
        write_image_archive(store, resolve_for_export(store, refs), format, fd.get());
        return file;
    }
};

// A fresh store to load into.
struct Target {
    TempDir dir{test_tmp(), "exchange-target-"};
    Store store{dir.path() / "store"};

    std::vector<LoadedImage> load(const fs::path& file, const LoadLimits& limits = {}) {
        const Fd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
        REQUIRE(fd);
        return load_image_archive(store, fd.get(), file.string(), limits);
    }
    std::size_t blob_count() const {
        const auto it = fs::directory_iterator(store.layout_dir() / "blobs" / "sha256");
        return static_cast<std::size_t>(std::distance(it, fs::directory_iterator()));
    }
};

std::vector<std::string> entry_names(const std::vector<TarEntry>& entries) {
    std::vector<std::string> names;
    for (const auto& e : entries) names.push_back(e.path);
    return names;
}

const TarEntry& entry_named(const std::vector<TarEntry>& entries, const std::string& name) {
    const auto it = std::find_if(entries.begin(), entries.end(), [&](const TarEntry& e) { return e.path == name; });
    REQUIRE(it != entries.end());
    return *it;
}

std::string blob_entry(const std::string& digest) { return "blobs/sha256/" + digest.substr(7); }

// Rewrites an archive with a change applied to its entries.
fs::path edited(const fs::path& archive, const std::string& name, const std::function<void(std::vector<TarEntry>&)>& edit) {
    auto entries = read_tar(archive);
    edit(entries);
    const fs::path out = archive.parent_path() / name;
    write_tar(out, entries);
    return out;
}

void erase_entry(std::vector<TarEntry>& entries, const std::string& name) {
    const auto before = entries.size();
    entries.erase(std::remove_if(entries.begin(), entries.end(), [&](const TarEntry& e) { return e.path == name; }), entries.end());
    REQUIRE(entries.size() == before - 1);
}

// The load must fail naming `needle`, leaving the target store without tags or blobs.
void require_refused(Target& target, const fs::path& archive, const std::string& needle) {
    try {
        target.load(archive);
        FAIL("a hostile archive was loaded: " << archive.string());
    } catch (const Error& e) {
        INFO(e.what());
        CHECK(std::string(e.what()).find(needle) != std::string::npos);
    }
    CHECK(target.store.tags().empty());
    CHECK(target.blob_count() == 0);
}

} // namespace

TEST_CASE("an oci-archive round trip keeps manifest digests and restores tags", "[exchange]") {
    Source source;
    const fs::path archive = source.save({"app:1", "base"}, ArchiveFormat::oci);
    Target target;
    const auto loaded = target.load(archive);
    REQUIRE(loaded.size() == 2);
    CHECK(loaded[0].manifest.digest == source.app.digest);
    CHECK(loaded[0].names == std::vector<std::string>{"app:1"});
    CHECK(loaded[1].manifest.digest == source.base.digest);
    CHECK(loaded[1].names == std::vector<std::string>{"base:latest"});
    CHECK(target.store.resolve("app:1")->digest == source.app.digest);
    CHECK(target.store.resolve("base")->digest == source.base.digest);
    const Image image = target.store.load_image(*target.store.resolve("app:1"));
    REQUIRE(image.layers().size() == 2);
    CHECK(image.layers()[1].digest == source.layers[1].descriptor.digest);
    CHECK(image.diff_ids()[1] == source.layers[1].diff_id);
    // Loading again changes nothing.
    CHECK(target.load(archive).size() == 2);
    CHECK(target.store.tags().size() == 2);
}

TEST_CASE("an oci-archive is sorted, deterministic and named as skopeo and docker expect", "[exchange]") {
    Source source;
    const fs::path first = source.save({"app:1"}, ArchiveFormat::oci, "a.tar");
    const fs::path second = source.save({"app:1"}, ArchiveFormat::oci, "b.tar");
    CHECK(read_file(first) == read_file(second));

    const auto entries = read_tar(first);
    const auto names = entry_names(entries);
    CHECK(std::is_sorted(names.begin(), names.end()));
    CHECK(names.front() == "blobs/");
    CHECK(names[1] == "blobs/sha256/");
    CHECK(names[names.size() - 2] == "index.json");
    CHECK(names.back() == "oci-layout");
    CHECK(names.size() == 2 + 4 + 2);  // manifest, config, two layers
    for (const auto& e : entries) {
        CHECK(e.mtime == 0);
        CHECK(e.uid == 0);
        CHECK(e.gid == 0);
        CHECK(e.uname.empty());
        CHECK(e.perm == (e.type == AE_IFDIR ? 0755u : 0644u));
        if (e.path.starts_with("blobs/sha256/") && e.type == AE_IFREG) CHECK(sha256_digest(e.data) == "sha256:" + e.path.substr(13));
    }
    const json index = json::parse(entry_named(entries, "index.json").data);
    REQUIRE(index["manifests"].size() == 1);
    const json& entry = index["manifests"][0];
    CHECK(entry["digest"] == source.app.digest);
    CHECK(entry["annotations"][ref_name_annotation] == "app:1");
    CHECK(entry["annotations"][containerd_name_annotation] == "docker.io/library/app:1");
    CHECK(entry["platform"] == json{{"architecture", "amd64"}, {"os", "linux"}});
    CHECK(json::parse(entry_named(entries, "oci-layout").data) == json{{"imageLayoutVersion", "1.0.0"}});
}

TEST_CASE("a docker-archive is also a legacy docker archive naming the same blobs", "[exchange]") {
    Source source;
    const fs::path archive = source.save({"app:1", "base:latest"}, ArchiveFormat::docker);
    const auto entries = read_tar(archive);
    const auto names = entry_names(entries);
    CHECK(std::is_sorted(names.begin(), names.end()));
    CHECK(names.back() == "repositories");

    const json manifest = json::parse(entry_named(entries, "manifest.json").data);
    REQUIRE(manifest.size() == 2);
    const Image app = source.store.load_image(source.app);
    CHECK(manifest[0]["Config"] == blob_entry(app.manifest["config"]["digest"]));
    CHECK(manifest[0]["RepoTags"] == json{"app:1"});
    CHECK(manifest[0]["Layers"] == json{blob_entry(source.layers[0].descriptor.digest), blob_entry(source.layers[1].descriptor.digest)});
    CHECK(manifest[1]["RepoTags"] == json{"base:latest"});
    for (const auto& path : manifest[0]["Layers"]) entry_named(entries, path.get<std::string>());

    const json repositories = json::parse(entry_named(entries, "repositories").data);
    CHECK(repositories == json{{"app", {{"1", source.layers[1].descriptor.digest.substr(7)}}},
                               {"base", {{"latest", source.layers[0].descriptor.digest.substr(7)}}}});
    const json index = json::parse(entry_named(entries, "index.json").data);
    CHECK(index["manifests"][0]["annotations"][ref_name_annotation] == "1");  // docker writes the tag alone
    CHECK(index["manifests"][0]["annotations"][containerd_name_annotation] == "docker.io/library/app:1");

    SECTION("it loads through its OCI half, keeping digests") {
        Target target;
        const auto loaded = target.load(archive);
        REQUIRE(loaded.size() == 2);
        CHECK(loaded[0].manifest.digest == source.app.digest);
        CHECK(loaded[0].names == std::vector<std::string>{"app:1"});
    }
    SECTION("it loads through its legacy half alone, as docker 20.10 reads it") {
        const fs::path legacy = edited(archive, "legacy.tar", [](std::vector<TarEntry>& e) {
            erase_entry(e, "index.json");
            erase_entry(e, "oci-layout");
        });
        Target target;
        const auto loaded = target.load(legacy);
        REQUIRE(loaded.size() == 2);
        CHECK(loaded[0].names == std::vector<std::string>{"app:1"});
        const Image image = target.store.load_image(loaded[0].manifest);
        CHECK(image.manifest["config"]["digest"] == app.manifest["config"]["digest"]);
        CHECK(image.layers()[1].digest == source.layers[1].descriptor.digest);
        CHECK(image.layers()[1].media_type == media::layer_gzip);
        CHECK(image.config == app.config);
    }
}

TEST_CASE("an image saved by id is exported untagged, and one named twice once", "[exchange]") {
    Source source;
    const auto images = resolve_for_export(source.store, {source.app.digest, "app:1", source.app.digest.substr(7, 12)});
    REQUIRE(images.size() == 1);
    CHECK(images[0].names == std::vector<std::string>{"app:1"});
    CHECK(resolve_for_export(source.store, {source.base.digest})[0].names.empty());
    CHECK_THROWS_WITH(resolve_for_export(source.store, {"nope"}), Catch::Contains("'nope' is not in the store"));

    const fs::path archive = source.save({source.base.digest}, ArchiveFormat::docker);
    const auto entries = read_tar(archive);
    CHECK(json::parse(entry_named(entries, "manifest.json").data)[0]["RepoTags"].is_null());
    CHECK_FALSE(json::parse(entry_named(entries, "index.json").data)["manifests"][0].contains("annotations"));
    Target target;
    const auto loaded = target.load(archive);
    REQUIRE(loaded.size() == 1);
    CHECK(loaded[0].names.empty());
    CHECK(loaded[0].manifest.digest == source.base.digest);
    CHECK(target.store.tags().empty());
    // Kept as docker keeps it, a <none> entry until rmi: no prune may take it.
    const auto entries_after = target.store.index_entries();
    REQUIRE(entries_after.size() == 1);
    CHECK(entries_after[0].name.empty());
    CHECK(entries_after[0].manifest.digest == source.base.digest);
    CHECK(target.store.resolve(source.base.digest.substr(7, 12))->digest == source.base.digest);
    target.load(archive);  // again: still one entry
    CHECK(target.store.index_entries().size() == 1);
    target.store.tag("base:again", loaded[0].manifest);  // a name replaces the <none> entry
    REQUIRE(target.store.index_entries().size() == 1);
    CHECK(target.store.index_entries()[0].name == "base:again");
}

TEST_CASE("gzip- and zstd-compressed archives load", "[exchange]") {
    Source source;
    const fs::path archive = source.save({"app:1"}, ArchiveFormat::oci);
    for (const std::string tool : {"gzip", "zstd -q"}) {
        const fs::path packed = archive.string() + ".packed";
        REQUIRE(std::system((tool + " -c < '" + archive.string() + "' > '" + packed.string() + "'").c_str()) == 0);
        Target target;
        const auto loaded = target.load(packed);
        REQUIRE(loaded.size() == 1);
        CHECK(loaded[0].manifest.digest == source.app.digest);
        CHECK(target.store.resolve("app:1"));
    }
}

TEST_CASE("docker 20.10's legacy save format loads, shared layers as symlinks", "[exchange]") {
    TempDir dir(test_tmp(), "legacy-");
    const fs::path layer_tar = dir.path() / "layer.tar";
    write_tar(layer_tar, {tar_dir("etc/"), tar_reg("etc/motd", "legacy\n")});
    const std::string layer = read_file(layer_tar);
    const std::string diff_id = sha256_digest(layer);
    const std::string config = config_for({diff_id}).dump();
    const std::string config_hex = sha256_hex(config);
    const std::string id1(64, '1'), id2(64, '2');
    const json manifest = json::array({{{"Config", config_hex + ".json"}, {"RepoTags", {"legacy:1"}}, {"Layers", {id1 + "/layer.tar"}}},
                                       {{"Config", config_hex + ".json"},
                                        {"RepoTags", {"docker.io/library/legacy:2"}},
                                        {"Layers", {id2 + "/layer.tar"}}}});
    const fs::path archive = dir.path() / "legacy.tar";
    write_tar(archive, {tar_reg(config_hex + ".json", config), tar_dir(id1 + "/"), tar_reg(id1 + "/VERSION", "1.0"),
                        tar_reg(id1 + "/json", "{}"), tar_reg(id1 + "/layer.tar", layer), tar_dir(id2 + "/"),
                        tar_symlink(id2 + "/layer.tar", "../" + id1 + "/layer.tar"),
                        tar_reg("repositories", R"({"legacy":{"1":")" + id1 + R"("}})"), tar_reg("manifest.json", manifest.dump())});
    Target target;
    const auto loaded = target.load(archive);
    REQUIRE(loaded.size() == 2);
    CHECK(loaded[0].names == std::vector<std::string>{"legacy:1"});
    CHECK(loaded[1].names == std::vector<std::string>{"legacy:2"});
    CHECK(loaded[0].manifest.digest == loaded[1].manifest.digest);
    const Image image = target.store.load_image(*target.store.resolve("legacy:2"));
    REQUIRE(image.layers().size() == 1);
    // The layer stays uncompressed: its digest is its diff id, and the store unpacks it.
    CHECK(image.layers()[0].media_type == media::layer_tar);
    CHECK(image.layers()[0].digest == diff_id);
    CHECK(image.manifest["config"]["digest"] == "sha256:" + config_hex);
    const fs::path unpacked = dir.path() / "unpacked";
    make_dirs(unpacked);
    CHECK(unpack_layer(target.store.blob_path(diff_id), media::layer_tar, unpacked, WhiteoutMode::apply) == diff_id);
    CHECK(read_file(unpacked / "etc/motd") == "legacy\n");
}

TEST_CASE("compressed layers in a legacy archive keep their compression", "[exchange]") {
    TempDir dir(test_tmp(), "legacy-packed-");
    const fs::path plain = dir.path() / "layer.tar", gz = dir.path() / "layer.tar.gz", zst = dir.path() / "layer.tar.zst";
    write_tar(plain, {tar_reg("a", "first\n")});
    write_tar(gz, {tar_reg("b", "second\n")}, true);
    REQUIRE(std::system(("zstd -q -c '" + plain.string() + "' > '" + zst.string() + "'").c_str()) == 0);
    const std::string diff_a = sha256_digest(read_file(plain)), diff_b = sha256_digest(gunzip(read_file(gz)));
    // The zstd layer holds the same tar as the first: a second image of it.
    const std::string config = config_for({diff_a, diff_b}).dump(), config2 = config_for({diff_a}).dump();
    const json manifest = json::array({{{"Config", "c.json"}, {"RepoTags", {"packed:1"}}, {"Layers", {"a.tar", "b.tar.gz"}}},
                                       {{"Config", "c2.json"}, {"RepoTags", {"packed:2"}}, {"Layers", {"a.tar.zst"}}}});
    const fs::path archive = dir.path() / "packed.tar";
    write_tar(archive, {tar_reg("c.json", config), tar_reg("c2.json", config2), tar_reg("a.tar", read_file(plain)),
                        tar_reg("b.tar.gz", read_file(gz)), tar_reg("a.tar.zst", read_file(zst)),
                        tar_reg("manifest.json", manifest.dump())});
    Target target;
    const auto loaded = target.load(archive);
    REQUIRE(loaded.size() == 2);
    const auto layers = target.store.load_image(loaded[0].manifest).layers();
    REQUIRE(layers.size() == 2);
    CHECK(layers[0].media_type == media::layer_tar);
    CHECK(layers[1].media_type == media::layer_gzip);
    CHECK(layers[1].digest == sha256_digest(read_file(gz)));
    const auto zstd_layers = target.store.load_image(loaded[1].manifest).layers();
    REQUIRE(zstd_layers.size() == 1);
    CHECK(zstd_layers[0].media_type == media::layer_zstd);
    CHECK(zstd_layers[0].digest == sha256_digest(read_file(zst)));
}

TEST_CASE("a docker manifest list in an OCI layout: this platform's image, in OCI media types", "[exchange]") {
    Source source;
    const Image app = source.store.load_image(source.app);
    const std::string config = source.store.read_blob(app.manifest["config"]["digest"].get<std::string>());
    const auto blob = [&](const std::string& bytes) { return tar_reg(blob_entry(sha256_digest(bytes)), bytes); };
    const auto docker_descriptor = [](const std::string& type, const std::string& bytes) {
        return json{{"mediaType", type}, {"digest", sha256_digest(bytes)}, {"size", bytes.size()}};
    };
    json layers = json::array();
    std::vector<TarEntry> entries = {blob(config)};
    for (const auto& layer : source.layers) {
        const std::string bytes = read_file(source.store.blob_path(layer.descriptor.digest));
        layers.push_back(docker_descriptor("application/vnd.docker.image.rootfs.diff.tar.gzip", bytes));
        entries.push_back(blob(bytes));
    }
    const std::string manifest = json{{"schemaVersion", 2},
                                      {"mediaType", "application/vnd.docker.distribution.manifest.v2+json"},
                                      {"config", docker_descriptor("application/vnd.docker.container.image.v1+json", config)},
                                      {"layers", layers}}.dump();
    utsname u {};
    REQUIRE(::uname(&u) == 0);
    const std::string arch = std::string(u.machine) == "x86_64" ? "amd64" : std::string(u.machine) == "aarch64" ? "arm64" : u.machine;
    json other = docker_descriptor("application/vnd.docker.distribution.manifest.v2+json", "not in the archive");
    other["platform"] = {{"os", "linux"}, {"architecture", arch == "s390x" ? "riscv64" : "s390x"}};
    json mine = docker_descriptor("application/vnd.docker.distribution.manifest.v2+json", manifest);
    mine["platform"] = {{"os", "linux"}, {"architecture", arch}};
    const std::string list = json{{"schemaVersion", 2},
                                  {"mediaType", "application/vnd.docker.distribution.manifest.list.v2+json"},
                                  {"manifests", {other, mine}}}.dump();
    json top = docker_descriptor("application/vnd.docker.distribution.manifest.list.v2+json", list);
    top["annotations"] = {{containerd_name_annotation, "docker.io/library/listed:3"}, {ref_name_annotation, "3"}};
    entries.push_back(blob(manifest));
    entries.push_back(blob(list));
    entries.push_back(tar_reg("index.json", json{{"schemaVersion", 2}, {"manifests", {top}}}.dump()));
    entries.push_back(tar_reg("oci-layout", R"({"imageLayoutVersion":"1.0.0"})"));
    const fs::path archive = source.dir.path() / "list.tar";
    write_tar(archive, entries);

    Target target;
    const auto loaded = target.load(archive);
    REQUIRE(loaded.size() == 1);
    CHECK(loaded[0].names == std::vector<std::string>{"listed:3"});
    // A manifest of strata's own, in OCI types, over the same config and layer blobs.
    const Image image = target.store.load_image(*target.store.resolve("listed:3"));
    CHECK(image.manifest["mediaType"] == media::manifest);
    CHECK(image.manifest["config"]["mediaType"] == media::config);
    CHECK(image.manifest["config"]["digest"] == app.manifest["config"]["digest"]);
    REQUIRE(image.layers().size() == 2);
    CHECK(image.layers()[1].media_type == media::layer_gzip);
    CHECK(image.layers()[1].digest == source.layers[1].descriptor.digest);
}

TEST_CASE("go-containerregistry's docker save tarballs load and flatten", "[exchange]") {
    const fs::path conformance = conformance_dir();
    if (conformance.empty()) return;
    TempDir dir(test_tmp(), "ggcr-");
    for (const std::string name : {"whiteout_image", "whiteout_dir", "overwritten_file"}) {
        Target target;
        const auto loaded = target.load(conformance / "ggcr-testdata/whiteout" / (name + ".tar"));
        REQUIRE(loaded.size() == 1);
        const std::string tag = name == "whiteout_dir" ? "localhost:5000/whiteout:latest" : "bazel/pkg/v1/mutate:" + name;
        CHECK(loaded[0].names == std::vector<std::string>{tag});
        const Image image = target.store.load_image(loaded[0].manifest);
        const fs::path root = dir.path() / name;
        make_dirs(root);
        for (const auto& layer : image.layers()) {
            CHECK(layer.media_type == (name == "whiteout_dir" ? media::layer_gzip : media::layer_tar));
            unpack_layer(target.store.blob_path(layer.digest), layer.media_type, root, WhiteoutMode::apply);
        }
        const auto tree = tree_listing(root);
        std::vector<std::string> paths;
        for (const auto& [path, content] : tree) paths.push_back(path);
        if (name == "whiteout_image") CHECK(tree == std::map<std::string, std::string>{{"bar.txt", "bar\n"}});
        if (name == "whiteout_dir") CHECK(paths == std::vector<std::string>{"a", "a/baz", "b", "b/bar"});
        if (name == "overwritten_file")
            CHECK(tree == std::map<std::string, std::string>{{"bar.txt", "bar\n"}, {"foo.txt", "-> bar.txt"}});
    }
}

TEST_CASE("an OCI layout written to a directory matches the archive's files", "[exchange]") {
    Source source;
    const fs::path layout = source.dir.path() / "layout";
    write_image_layout(source.store, resolve_for_export(source.store, {"app:1"}), layout);
    for (const auto& e : read_tar(source.save({"app:1"}, ArchiveFormat::oci))) {
        if (e.type == AE_IFREG) CHECK(read_file(layout / e.path) == e.data);
    }
    CHECK_THROWS_WITH(write_image_layout(source.store, resolve_for_export(source.store, {"app:1"}), layout),
                      Catch::Contains("not an empty directory"));
}

TEST_CASE("a layer whose content is not the diff id its config gives is refused", "[exchange][hostile]") {
    Source source;
    // Both halves: the OCI manifest, and the legacy manifest.json docker 20.10 reads.
    const Descriptor lying = source.store.write_image(config_for({source.layers[1].diff_id}), {source.layers[0].descriptor});
    source.store.tag("lying", lying);
    const fs::path archive = source.save({"lying"}, ArchiveFormat::docker);
    const std::string expected = "is not the layer its config names: its content is " + source.layers[0].diff_id;
    Target target;
    require_refused(target, archive, expected);
    require_refused(target, edited(archive, "legacy.tar", [](auto& e) { erase_entry(e, "index.json"); }), expected);
}

TEST_CASE("a damaged blob in the store is not exported under its name", "[exchange]") {
    Source source;
    const fs::path blob = source.store.blob_path(source.layers[1].descriptor.digest);
    std::string bytes = read_file(blob);
    bytes[bytes.size() / 2] ^= 1;
    fs::permissions(blob, fs::perms::owner_write, fs::perm_options::add);
    write_text(blob, bytes);
    CHECK_THROWS_WITH(source.save({"app:1"}, ArchiveFormat::oci), Catch::Contains("is corrupt"));
}

TEST_CASE("hostile archives are refused, naming the entry, and nothing is stored", "[exchange][hostile]") {
    Source source;
    const fs::path good = source.save({"app:1"}, ArchiveFormat::docker);
    const std::string layer_entry = blob_entry(source.layers[1].descriptor.digest);
    Target target;

    SECTION("a name with '..'") {
        require_refused(target, edited(good, "dotdot.tar", [&](auto& e) { e.push_back(tar_reg("blobs/../../evil", "x")); }),
                        "'blobs/../../evil': '..' would lead out of the archive");
    }
    SECTION("an absolute name") {
        require_refused(target, edited(good, "abs.tar", [&](auto& e) { e.push_back(tar_reg("/etc/evil", "x")); }),
                        "'/etc/evil': absolute name");
    }
    SECTION("a symlink in blobs/") {
        const std::string name = "blobs/sha256/" + std::string(64, 'a');
        require_refused(target, edited(good, "symlink.tar", [&](auto& e) { e.push_back(tar_symlink(name, "/etc/passwd")); }),
                        "symlink is not allowed in blobs/");
    }
    SECTION("a hard link in blobs/") {
        const std::string name = "blobs/sha256/" + std::string(64, 'b');
        require_refused(target, edited(good, "hardlink.tar", [&](auto& e) { e.push_back(tar_hardlink(name, "index.json")); }),
                        "hard link is not allowed in blobs/");
    }
    SECTION("a device") {
        require_refused(target, edited(good, "device.tar", [&](auto& e) {
                            TarEntry dev = tar_reg("blobs/dev");
                            dev.type = AE_IFCHR;
                            e.push_back(dev);
                        }),
                        "'blobs/dev': a device, fifo or socket is not allowed");
    }
    SECTION("a symlink leading out of the archive") {
        require_refused(target, edited(good, "escape.tar", [&](auto& e) { e.push_back(tar_symlink("x/layer.tar", "../../etc/passwd")); }),
                        "leads out of the archive");
    }
    SECTION("a blob whose content is not its name") {
        require_refused(target, edited(good, "mismatch.tar", [&](auto& e) {
                            for (auto& t : e)
                                if (t.path == layer_entry) t.data[t.data.size() / 2] ^= 1;
                        }),
                        "'" + layer_entry + "': blob digest mismatch");
    }
    SECTION("a manifest naming a missing blob") {
        require_refused(target, edited(good, "missing.tar", [&](auto& e) { erase_entry(e, layer_entry); }),
                        "blob " + source.layers[1].descriptor.digest + " is not in the archive");
    }
    SECTION("an entry twice") {
        require_refused(target, edited(good, "twice.tar", [&](auto& e) { e.push_back(tar_reg("index.json", "{}")); }),
                        "holds 'index.json' twice");
    }
    SECTION("a truncated stream") {
        const std::string bytes = read_file(good);
        const fs::path cut = good.parent_path() / "cut.tar";
        write_text(cut, bytes.substr(0, bytes.size() / 2));
        require_refused(target, cut, "truncated");
    }
    SECTION("a truncated gzip stream") {
        const fs::path packed = good.string() + ".gz";
        REQUIRE(std::system(("gzip -c < '" + good.string() + "' > '" + packed.string() + "'").c_str()) == 0);
        const std::string bytes = read_file(packed);
        write_text(packed, bytes.substr(0, bytes.size() * 2 / 3));
        require_refused(target, packed, "truncated");
    }
    SECTION("a name longer than any path") {
        require_refused(target, edited(good, "long.tar", [&](auto& e) { e.push_back(tar_reg(std::string(5000, 'n'), "x")); }),
                        "name has 5000 bytes");
    }
    SECTION("a header of megabytes") {
        require_refused(target, edited(good, "huge.tar", [&](auto& e) { e.push_back(tar_reg(std::string(3 << 20, 'h'), "x")); }),
                        "damaged or truncated");
    }
    SECTION("not an archive, and an empty one") {
        const fs::path junk = good.parent_path() / "junk";
        write_text(junk, std::string(4096, 'j'));
        require_refused(target, junk, "cannot read it as a tar archive: Unrecognized archive format");
        write_text(junk, "");
        require_refused(target, junk, "empty");
    }
    SECTION("a JSON document larger than the limit") {
        LoadLimits limits;
        limits.max_document_bytes = 100;
        CHECK_THROWS_WITH(target.load(good, limits), Catch::Contains("more than a JSON document may have"));
        CHECK(target.store.tags().empty());
    }
}

} // namespace exchange_test
