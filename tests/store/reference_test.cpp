// Image references as docker parses them (the cases are distribution/reference's own tests:
// normalize_test.go and reference_test.go), and the store's names built on them.
#include "helpers.hpp"

#include "store/reference.hpp"
#include "store/store.hpp"
#include "util/error.hpp"
#include "util/sha256.hpp"

#include <catch2/catch.hpp>

namespace reference_test {  // this file's own names: a folder's tests compile as unity batches

using namespace strata;
using namespace strata::store;
using namespace strata::store::test;

namespace {

const std::string hex64(64, 'f');
const std::string sha = "sha256:" + std::string(64, 'f');

json read_json(const fs::path& path) { return json::parse(read_file(path)); }

Descriptor small_image(Store& store, const std::string& label) {
    const json config = {{"architecture", "amd64"},
                         {"os", "linux"},
                         {"config", {{"Labels", {{"which", label}}}}},
                         {"rootfs", {{"type", "layers"}, {"diff_ids", json::array()}}}};
    return store.write_image(config, {});
}

} // namespace

TEST_CASE("references normalise as docker's ParseNormalizedNamed", "[reference]") {
    struct Case {
        const char* input;
        const char* full;      // Reference::string()
        const char* familiar;  // Reference::familiar_string()
    };
    const Case cases[] = {
        {"alpine", "docker.io/library/alpine", "alpine"},
        {"alpine:3.19", "docker.io/library/alpine:3.19", "alpine:3.19"},
        {"library/debian", "docker.io/library/debian", "debian"},
        {"docker/docker", "docker.io/docker/docker", "docker/docker"},
        {"docker.io/debian", "docker.io/library/debian", "debian"},
        {"docker.io/library/debian", "docker.io/library/debian", "debian"},
        {"index.docker.io/docker/docker", "docker.io/docker/docker", "docker/docker"},
        {"index.docker.io/debian", "docker.io/library/debian", "debian"},
        {"docker.io/library/foo/bar", "docker.io/library/foo/bar", "library/foo/bar"},
        {"127.0.0.1:5000/docker/docker", "127.0.0.1:5000/docker/docker", "127.0.0.1:5000/docker/docker"},
        {"127.0.0.1:5000/debian", "127.0.0.1:5000/debian", "127.0.0.1:5000/debian"},
        {"reg:5000/x", "reg:5000/x", "reg:5000/x"},
        {"reg:5000/x:2", "reg:5000/x:2", "reg:5000/x:2"},
        {"localhost/x", "localhost/x", "localhost/x"},
        {"localhost:5000/x:t", "localhost:5000/x:t", "localhost:5000/x:t"},
        {"192.168.0.1", "docker.io/library/192.168.0.1", "192.168.0.1"},
        {"192.168.0.1:80", "docker.io/library/192.168.0.1:80", "192.168.0.1:80"},
        {"192.168.0.1:8/debian", "192.168.0.1:8/debian", "192.168.0.1:8/debian"},
        {"[fc00::1]:5000/docker", "[fc00::1]:5000/docker", "[fc00::1]:5000/docker"},
        {"test.com:tag", "docker.io/library/test.com:tag", "test.com:tag"},
        {"test.com:5000", "docker.io/library/test.com:5000", "test.com:5000"},
        {"test_com", "docker.io/library/test_com", "test_com"},
        {"foo_bar.com:8080", "docker.io/library/foo_bar.com:8080", "foo_bar.com:8080"},
        {"foo/foo_bar.com:8080", "docker.io/foo/foo_bar.com:8080", "foo/foo_bar.com:8080"},
        {"sub-dom1.foo.com/bar/baz/quux:some-long-tag", "sub-dom1.foo.com/bar/baz/quux:some-long-tag",
         "sub-dom1.foo.com/bar/baz/quux:some-long-tag"},
        {"b.gcr.io/test.example.com/my-app:test.example.com", "b.gcr.io/test.example.com/my-app:test.example.com",
         "b.gcr.io/test.example.com/my-app:test.example.com"},
        {"xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com/myimage:xn--n3h.com"},
        {"Foo/bar", "Foo/bar", "Foo/bar"},  // an uppercase first component is a registry
        {"a__b/c---d.e_f", "docker.io/a__b/c---d.e_f", "a__b/c---d.e_f"},
        {"thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
         "docker.io/library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
         "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev"},
    };
    for (const auto& c : cases) {
        INFO(c.input);
        const Reference ref = parse_reference(c.input);
        CHECK(ref.string() == c.full);
        CHECK(ref.familiar_string() == c.familiar);
        CHECK(parse_reference(ref.familiar_string()) == ref);  // familiar and full name the same thing
    }
    const Reference pinned = parse_reference("test:5000/repo:tag@" + sha);
    CHECK(pinned.domain == "test:5000");
    CHECK(pinned.path == "repo");
    CHECK(pinned.tag == "tag");
    CHECK(pinned.digest == sha);
    CHECK(parse_reference("alpine@" + sha).familiar_string() == "alpine@" + sha);
    CHECK(parse_reference("x@sha512:" + std::string(128, 'a')).digest.size() == 7 + 128);
    CHECK(parse_reference("docker.io/" + std::string(64, 'a')).familiar_string() == std::string(64, 'a'));
}

TEST_CASE("references docker refuses are refused with its reasons", "[reference]") {
    const std::vector<std::string> invalid = {
        "",
        "https://github.com/docker/docker",
        "docker/Docker",
        "-docker",
        "-docker/docker",
        "-docker.io/docker/docker",
        "docker///docker",
        "docker.io/docker/Docker",
        "docker.io/docker///docker",
        "[fc00::1]",
        "[fc00::1]:5000",
        "fc00::1:5000/debian",
        "[fe80::1%eth0]:5000/debian",
        "[2001:db8:3:4::192.0.2.33]:5000/debian",
        hex64,                 // an image id, never a name
        ":justtag",
        "@" + sha,
        "repo@sha256:" + std::string(63, 'f'),  // too short
        "repo@sha256:" + std::string(64, 'F'),  // uppercase hex
        "validname@invaliddigest:" + hex64,
        "Uppercase:tag",
        "aa/asdf$$^/aa",
        "has space",
        "/abs",
        "x:",
        "x:-tag",
        "x:.tag",
        "x/",
        "x:" + std::string(129, 'a'),
        std::string(256, 'a'),
        "a:b:c",
        "a..b",
        "a_-b",
    };
    for (const auto& text : invalid) {
        INFO("'" << text << "'");
        CHECK_THROWS_AS(parse_reference(text), Error);
    }
    CHECK_NOTHROW(parse_reference("x:" + std::string(128, 'a')));
    CHECK_THROWS_WITH(parse_reference("Uppercase:tag"),
                      "invalid reference format: repository name (library/Uppercase) must be lowercase");
    CHECK_THROWS_WITH(parse_reference("x:-tag"), Catch::StartsWith("invalid reference format: 'x:-tag': tag"));
    CHECK_THROWS_WITH(parse_reference("x@md5:" + hex64), Catch::Contains("unsupported digest algorithm 'md5'"));
    CHECK_THROWS_WITH(parse_reference(hex64), Catch::Contains("cannot specify 64-byte hexadecimal strings"));
    CHECK_THROWS_WITH(parse_reference(std::string(250, 'a')), Catch::Contains("more than 255 characters"));
}

TEST_CASE("normalize_tag gives the familiar name:tag", "[reference]") {
    CHECK(normalize_tag("hello") == "hello:latest");
    CHECK(normalize_tag("docker.io/library/hello") == "hello:latest");
    CHECK(normalize_tag("index.docker.io/user/x:1") == "user/x:1");
    CHECK(normalize_tag("reg:5000/x") == "reg:5000/x:latest");
    CHECK(normalize_tag("x@" + sha) == "x@" + sha);
    CHECK(normalize_tag("x:1@" + sha) == "x:1@" + sha);
    CHECK(with_default_tag(parse_reference("x")).tag == "latest");
    CHECK(with_default_tag(parse_reference("x@" + sha)).tag.empty());
}

TEST_CASE("reference filters match as docker's FamiliarMatch", "[reference]") {
    const Reference alpine = with_default_tag(parse_reference("alpine"));
    const Reference user = with_default_tag(parse_reference("user/app:1.2"));
    CHECK(reference_matches(alpine, "alpine"));
    CHECK(reference_matches(alpine, "alpine:latest"));
    CHECK(reference_matches(alpine, "alp*"));
    CHECK(reference_matches(alpine, "*:latest"));
    CHECK_FALSE(reference_matches(alpine, "alpine:3"));
    CHECK_FALSE(reference_matches(alpine, "docker.io/library/alpine"));
    CHECK(reference_matches(user, "user/*"));
    CHECK(reference_matches(user, "*/app:1.?"));
    CHECK_FALSE(reference_matches(user, "*"));  // '*' does not cross '/'
    CHECK_FALSE(reference_matches(user, "app"));
}

TEST_CASE("the store names images by reference and resolves every form docker takes", "[reference][layout]") {
    TempDir root(test_tmp());
    Store store(root.path());
    const Descriptor a = small_image(store, "a");
    const Descriptor b = small_image(store, "b");
    store.tag("alpine", a);
    store.tag("docker.io/user/x:1", b);
    store.tag("reg:5000/x", b);

    const json index = read_json(root.path() / "oci/index.json");
    REQUIRE(index["manifests"].size() == 3);
    CHECK(index["manifests"][0]["annotations"][ref_name_annotation] == "alpine:latest");
    CHECK(index["manifests"][0]["annotations"]["io.containerd.image.name"] == "docker.io/library/alpine:latest");
    CHECK(index["manifests"][1]["annotations"][ref_name_annotation] == "user/x:1");
    CHECK(index["manifests"][2]["annotations"]["io.containerd.image.name"] == "reg:5000/x:latest");

    for (const char* name : {"alpine", "alpine:latest", "library/alpine", "docker.io/library/alpine:latest",
                             "index.docker.io/library/alpine"}) {
        INFO(name);
        REQUIRE(store.resolve(name));
        CHECK(store.resolve(name)->digest == a.digest);
    }
    CHECK(store.resolve("user/x:1")->digest == b.digest);
    CHECK(store.resolve("reg:5000/x:latest")->digest == b.digest);
    CHECK_FALSE(store.resolve("x:1"));  // docker.io/library/x:1
    CHECK_FALSE(store.resolve("user/x"));
    CHECK(store.resolve(a.digest)->digest == a.digest);
    CHECK(store.resolve(a.digest.substr(7))->digest == a.digest);
    CHECK(store.resolve(a.digest.substr(7, 12))->digest == a.digest);
    CHECK(store.resolve("alpine@" + a.digest)->digest == a.digest);
    CHECK(store.resolve("docker.io/library/alpine:whatever@" + a.digest)->digest == a.digest);
    CHECK_FALSE(store.resolve("user/x@" + a.digest));  // that repository does not hold it
    CHECK(store.resolve("user/x@" + b.digest)->digest == b.digest);
    CHECK_THROWS_WITH(store.resolve("Alpine"), Catch::Contains("must be lowercase"));
    // Over entries already read, the same answers.
    const auto entries = store.index_entries();
    const std::vector<std::string> names = {"alpine", "docker.io/library/alpine:latest", "user/x:1", "x:1",
                                            a.digest.substr(7, 6), "alpine@" + a.digest, "user/x@" + a.digest};
    for (const auto& name : names) {
        INFO(name);
        const auto streamed = store.resolve(name), read = Store::resolve(name, entries);
        REQUIRE(streamed.has_value() == read.has_value());
        if (read) CHECK(read->digest == streamed->digest);
    }
    CHECK(store.index_entries(b.digest).size() == 2);

    const auto tags = store.tags();
    REQUIRE(tags.size() == 3);
    CHECK(tags[0].first == "alpine:latest");
    CHECK(tags[1].first == "reg:5000/x:latest");
    CHECK(tags[2].first == "user/x:1");
    CHECK_THROWS_WITH(store.tag("x@" + a.digest, a), Catch::Contains("digest reference"));
}

TEST_CASE("a tag moves; untag and remove_from_index drop entries", "[reference][layout]") {
    TempDir root(test_tmp());
    Store store(root.path());
    const Descriptor a = small_image(store, "a");
    const Descriptor b = small_image(store, "b");
    store.tag("app", a);
    store.tag("app:2", a);
    store.tag("docker.io/library/app:latest", b);  // the same name as "app": moves it
    auto entries = store.index_entries();
    REQUIRE(entries.size() == 2);
    CHECK(store.resolve("app")->digest == b.digest);
    const auto before = read_file(root.path() / "oci/index.json");
    store.tag("app", b);  // unchanged: index.json is not rewritten
    CHECK(read_file(root.path() / "oci/index.json") == before);

    CHECK(store.untag("app:2")->digest == a.digest);
    CHECK_FALSE(store.untag("app:2"));
    CHECK_FALSE(store.resolve(a.digest));
    store.tag("app:3", b);
    const auto removed = store.remove_from_index(b.digest);
    CHECK(removed == std::vector<std::string>{"app:latest", "app:3"});
    CHECK(store.index_entries().empty());
}

TEST_CASE("entries written before full names, by skopeo, or untagged are still read", "[reference][layout]") {
    TempDir root(test_tmp());
    Store store(root.path());
    const Descriptor a = small_image(store, "a");
    const Descriptor b = small_image(store, "b");
    const Descriptor c = small_image(store, "c");
    json index = read_json(root.path() / "oci/index.json");
    const auto entry = [](const Descriptor& d, std::map<std::string, std::string> annotations) {
        Descriptor named = d;
        named.annotations = std::move(annotations);
        return to_json(named);
    };
    index["manifests"].push_back(entry(a, {{ref_name_annotation, "hello:latest"}}));  // strata's old form
    index["manifests"].push_back(entry(b, {{ref_name_annotation, "Old_Name:v1"}}));  // the old rule allowed it
    index["manifests"].push_back(entry(c, {}));                                       // untagged
    write_file_atomic(root.path() / "oci/index.json", index.dump());

    CHECK(store.resolve("hello")->digest == a.digest);
    CHECK(store.resolve("docker.io/library/hello:latest")->digest == a.digest);
    CHECK(store.resolve("Old_Name:v1")->digest == b.digest);  // as written
    CHECK(store.resolve(c.digest.substr(7, 8))->digest == c.digest);
    const auto entries = store.index_entries();
    REQUIRE(entries.size() == 3);
    CHECK(entries[0].name == "hello:latest");
    CHECK(entries[1].name == "Old_Name:v1");
    CHECK_FALSE(entries[1].reference);
    CHECK(entries[2].name.empty());

    // Tagging the untagged manifest takes it out of the untagged entries; retagging the
    // old-form entry gives it the full name too.
    store.tag("c", c);
    store.tag("hello", a);
    const json after = read_json(root.path() / "oci/index.json");
    REQUIRE(after["manifests"].size() == 3);
    CHECK(after["manifests"][0]["annotations"][ref_name_annotation] == "Old_Name:v1");
    CHECK(after["manifests"][1]["annotations"][ref_name_annotation] == "c:latest");
    CHECK(after["manifests"][2]["annotations"]["io.containerd.image.name"] == "docker.io/library/hello:latest");
}

} // namespace reference_test
