#include "helpers.hpp"

#include "store/platform.hpp"
#include "util/sha256.hpp"

#include <catch2/catch.hpp>

namespace layout_test {  // this file's own names: a folder's tests compile as unity batches

using namespace strata;
using namespace strata::store;
using namespace strata::store::test;

namespace {

json config_for(const std::vector<std::string>& diff_ids) {
    return json{{"architecture", "amd64"},
                {"os", "linux"},
                {"config", {{"Env", {"PATH=/bin"}}}},
                {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}}};
}

// An image with one (fake) layer blob whose content is `seed`.
Descriptor small_image(Store& store, const std::string& seed) {
    const Descriptor layer = store.put_blob(seed, media::layer_gzip);
    return store.write_image(config_for({sha256_digest(seed + "-tar")}), {layer});
}

json read_json(const fs::path& p) { return json::parse(read_file(p)); }

} // namespace

TEST_CASE("a new store holds an empty OCI layout", "[layout]") {
    TempDir root(test_tmp());
    Store store(root.path());
    CHECK(read_json(root.path() / "oci/oci-layout") == json{{"imageLayoutVersion", "1.0.0"}});
    const json index = read_json(root.path() / "oci/index.json");
    CHECK(index["schemaVersion"] == 2);
    CHECK(index["mediaType"] == media::index);
    CHECK(index["manifests"] == json::array());
    CHECK(fs::is_directory(root.path() / "oci/blobs/sha256"));
    CHECK(store.tags().empty());
}

TEST_CASE("write_image writes config and manifest that load_image reads back", "[layout]") {
    TempDir root(test_tmp());
    Store store(root.path());
    const Descriptor layer = store.put_blob("layer bytes", media::layer_gzip);
    const json config = config_for({sha256_digest("tar")});
    const Descriptor m = store.write_image(config, {layer});
    CHECK(m.media_type == media::manifest);

    const json manifest = json::parse(store.read_blob(m.digest));
    CHECK(manifest["schemaVersion"] == 2);
    CHECK(manifest["mediaType"] == media::manifest);
    CHECK(manifest["config"]["mediaType"] == media::config);
    CHECK(manifest["layers"].size() == 1);
    CHECK(manifest["layers"][0] == to_json(layer));
    // The config blob holds exactly the sorted-key dump, so equal configs hash equally.
    const std::string config_bytes = store.read_blob(manifest["config"]["digest"].get<std::string>());
    CHECK(config_bytes == config.dump());
    CHECK(config_bytes.find("\"architecture\"") < config_bytes.find("\"rootfs\""));

    const Image image = store.load_image(m);
    CHECK(image.config == config);
    CHECK(image.diff_ids() == std::vector<std::string>{sha256_digest("tar")});
    REQUIRE(image.layers().size() == 1);
    CHECK(image.layers()[0].digest == layer.digest);
    CHECK(image.layers()[0].size == layer.size);
}

TEST_CASE("write_image refuses a config whose diff ids do not match the layers", "[layout]") {
    TempDir root(test_tmp());
    Store store(root.path());
    const Descriptor layer = store.put_blob("l", media::layer_gzip);
    CHECK_THROWS_AS(store.write_image(config_for({}), {layer}), Error);
    CHECK_THROWS_AS(store.write_image(json::array(), {}), Error);
}

TEST_CASE("load_image validates media types, sizes and digests", "[layout]") {
    TempDir root(test_tmp());
    Store store(root.path());
    const Descriptor good = small_image(store, "a");

    Descriptor wrong_type = good;
    wrong_type.media_type = "application/vnd.docker.distribution.manifest.v2+json";
    CHECK_THROWS_AS(store.load_image(wrong_type), Error);

    Descriptor wrong_size = good;
    wrong_size.size += 1;
    CHECK_THROWS_AS(store.load_image(wrong_size), Error);

    json manifest = json::parse(store.read_blob(good.digest));
    manifest["layers"][0]["mediaType"] = "application/x-unknown";
    const Descriptor bad_layer = store.put_blob(manifest.dump(), media::manifest);
    CHECK_THROWS_WITH(store.load_image(bad_layer), Catch::Contains("application/x-unknown"));

    manifest = json::parse(store.read_blob(good.digest));
    manifest["config"]["mediaType"] = "application/json";
    CHECK_THROWS_AS(store.load_image(store.put_blob(manifest.dump(), media::manifest)), Error);

    manifest = json::parse(store.read_blob(good.digest));
    manifest["config"]["digest"] = sha256_digest("missing");
    CHECK_THROWS_AS(store.load_image(store.put_blob(manifest.dump(), media::manifest)), Error);
}

TEST_CASE("tags live in index.json as ref.name annotations; retagging replaces", "[layout]") {
    TempDir root(test_tmp());
    const Descriptor a = [&] {
        Store store(root.path());
        const Descriptor first = small_image(store, "a");
        store.tag("hello", first);
        store.tag("reg:5000/x", first);
        return first;
    }();
    Store store(root.path());  // reopened: tags persist
    const json index = read_json(root.path() / "oci/index.json");
    REQUIRE(index["manifests"].size() == 2);
    CHECK(index["manifests"][0]["annotations"][ref_name_annotation] == "hello:latest");
    CHECK(index["manifests"][0]["digest"] == a.digest);
    CHECK(index["manifests"][0]["mediaType"] == media::manifest);

    const Descriptor b = small_image(store, "b");
    store.tag("hello:latest", b);
    store.tag("alpha", b);
    const auto tags = store.tags();
    REQUIRE(tags.size() == 3);
    CHECK(tags[0].first == "alpha:latest");
    CHECK(tags[1].first == "hello:latest");
    CHECK(tags[1].second.digest == b.digest);
    CHECK(tags[2].first == "reg:5000/x:latest");
    CHECK(tags[2].second.digest == a.digest);
    CHECK(read_json(root.path() / "oci/index.json")["manifests"].size() == 3);
    // index.json was replaced atomically: no temp files beside it.
    for (const auto& e : fs::directory_iterator(root.path() / "oci"))
        CHECK_THAT(e.path().filename().string(), !Catch::Contains("tmp"));
}

TEST_CASE("resolve accepts tags, digests and unique hex prefixes", "[layout]") {
    TempDir root(test_tmp());
    Store store(root.path());
    const Descriptor a = small_image(store, "a");
    store.tag("app:1", a);
    const std::string hex = a.digest.substr(7);

    CHECK(store.resolve("app:1")->digest == a.digest);
    CHECK(store.resolve(a.digest)->digest == a.digest);
    CHECK(store.resolve(hex.substr(0, 4))->digest == a.digest);
    CHECK(store.resolve(hex)->digest == a.digest);
    CHECK(store.resolve(hex.substr(0, 12))->media_type == media::manifest);
    CHECK_FALSE(store.resolve("app"));  // means app:latest
    CHECK_FALSE(store.resolve(hex.substr(0, 3)));
    CHECK_FALSE(store.resolve(sha256_digest("nothing")));
    CHECK_FALSE(store.resolve("ffff" == hex.substr(0, 4) ? "eeee" : "ffff"));
}

TEST_CASE("resolve refuses an ambiguous digest prefix", "[layout]") {
    TempDir root(test_tmp());
    Store store(root.path());
    const std::string d1 = "sha256:abcd1" + std::string(59, '0');
    const std::string d2 = "sha256:abcd2" + std::string(59, '0');
    json index = read_json(root.path() / "oci/index.json");
    for (const auto& [d, name] : {std::pair{d1, "one:latest"}, std::pair{d2, "two:latest"}})
        index["manifests"].push_back(to_json(Descriptor{media::manifest, d, 10, {{ref_name_annotation, name}}}));
    write_file_atomic(root.path() / "oci/index.json", index.dump());

    CHECK_THROWS_WITH(store.resolve("abcd"), Catch::Contains("ambiguous"));
    CHECK(store.resolve("abcd1")->digest == d1);
    CHECK(store.resolve("abcd2")->digest == d2);
    CHECK(store.resolve("two")->digest == d2);
}

TEST_CASE("ggcr test_index_one_image is read by load_image and its layer unpacks to its diff id", "[layout][conformance]") {
    const fs::path conf = conformance_dir();
    if (conf.empty()) return;
    TempDir root(test_tmp());
    // Copied file by file: fs::copy would copy the fixture's read-only directory modes too.
    const fs::path fixture = conf / "ggcr-testdata/layout/test_index_one_image";
    fs::create_directories(root.path() / "oci");
    for (const auto& e : fs::recursive_directory_iterator(fixture)) {
        const fs::path dest = root.path() / "oci" / e.path().lexically_relative(fixture);
        if (e.is_directory())
            fs::create_directories(dest);
        else
            fs::copy_file(e.path(), dest);
    }
    Store store(root.path());
    const auto m = store.resolve("98ceaf93");
    REQUIRE(m);
    const Image image = store.load_image(*m);
    REQUIRE(image.layers().size() == 1);
    CHECK(image.layers()[0].media_type == media::layer_gzip);
    CHECK(image.config["architecture"] == "amd64");
    REQUIRE(image.diff_ids().size() == 1);
    TempDir out(test_tmp());
    CHECK(unpack_layer(store.blob_path(image.layers()[0].digest), image.layers()[0].media_type, out.path(),
                       WhiteoutMode::apply) == image.diff_ids()[0]);
    CHECK_FALSE(fs::is_empty(out.path()));
}

TEST_CASE("an index in index.json stands for its image for this machine", "[layout][platform]") {
    TempDir root(test_tmp());
    Store store(root.path());
    const Descriptor mine = small_image(store, "host layer");
    const Descriptor other = small_image(store, "other layer");
    const Platform host = host_platform();
    const std::string foreign = host.architecture == "s390x" ? "ppc64le" : "s390x";
    const auto for_platform = [](const Descriptor& d, const std::string& arch) {
        json entry = to_json(d);
        entry["platform"] = {{"os", "linux"}, {"architecture", arch}};
        return entry;
    };
    const json index = {{"schemaVersion", 2},
                        {"mediaType", media::index},
                        {"manifests", {for_platform(other, foreign), for_platform(mine, host.architecture)}}};
    const Descriptor index_desc = store.put_blob(index.dump(), media::index);
    store.tag("multi:1", index_desc);

    const auto resolved = store.resolve("multi:1");
    REQUIRE(resolved);
    CHECK(resolved->media_type == media::index);
    const Image image = store.load_image(*resolved);
    CHECK(image.manifest_descriptor.digest == mine.digest);
    CHECK(store.platform_image(*resolved).digest == mine.digest);
    CHECK(store.platform_image(mine).digest == mine.digest);

    const json only_foreign = {{"schemaVersion", 2},
                               {"mediaType", media::index},
                               {"manifests", {for_platform(other, foreign)}}};
    const Descriptor foreign_desc = store.put_blob(only_foreign.dump(), media::index);
    CHECK_THROWS_WITH(store.load_image(foreign_desc), Catch::Contains("holds no image for " + host.string()));
}

} // namespace layout_test
