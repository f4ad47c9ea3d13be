// docker's image commands through the real binary: images (flags, filters, formats),
// inspect, history, tag and rmi (untag, delete, garbage, kept containers), names in every
// form docker takes, and skopeo still finding the tags in the store's OCI layout.
#include "tests/common/busybox_store.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <regex>
#include <set>
#include <sstream>
#include <vector>

namespace image_commands_test {  // this file's own names: a folder's tests compile as unity batches

using namespace strata::test;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

std::string trimmed(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

// A store with busybox and "app" built on it (a label and a layer of its own), named
// app:1 and reg:5000/user/app. `digest` is app's manifest digest.
struct AppStore {
    BusyboxStore s;
    std::string digest;

    AppStore() {
        INFO(s.busybox_build.output);
        REQUIRE(s.busybox_build.exit_code == 0);
        const auto built = s.build("FROM busybox\nLABEL a=1\nRUN echo hi > /made\nCMD [\"cat\", \"/made\"]\n",
                                   "-q -t app:1 -t reg:5000/user/app");
        INFO(built.output);
        REQUIRE(built.exit_code == 0);
        digest = trimmed(built.output);
        REQUIRE(digest.size() == 71);
    }

    fs::path blob(const std::string& d) const { return s.root / "oci" / "blobs" / "sha256" / d.substr(7); }
    json read_blob(const std::string& d) const { return json::parse(read_text(blob(d))); }
    std::string out(const std::string& args) const {
        const auto r = s.strata_stdout(args);
        INFO(args);
        REQUIRE(r.exit_code == 0);
        return r.output;
    }
};

} // namespace

TEST_CASE("images lists each tag with docker's columns, flags and formats", "[integration][images]") {
    AppStore a;
    const std::string id = a.digest.substr(7, 12);

    const auto table = lines_of(a.out("images"));
    REQUIRE(table.size() == 4);
    CHECK(std::regex_match(table[0], std::regex("REPOSITORY +TAG +IMAGE ID +CREATED +SIZE")));
    // Columns start where their titles do (docker's tabwriter layout).
    const auto tag_column = table[0].find("TAG"), id_column = table[0].find("IMAGE ID");
    std::set<std::string> rows;
    for (std::size_t i = 1; i < table.size(); ++i) {
        rows.insert(trimmed(table[i].substr(0, tag_column)) + " " + trimmed(table[i].substr(tag_column, id_column - tag_column)));
        if (table[i].starts_with("app ")) CHECK(table[i].substr(id_column, 12) == id);
    }
    CHECK(rows == std::set<std::string>{"app 1", "reg:5000/user/app latest", "busybox latest"});

    const auto digests = lines_of(a.out("images --digests --no-trunc"));
    CHECK(std::regex_match(digests[0], std::regex("REPOSITORY +TAG +DIGEST +IMAGE ID +CREATED +SIZE")));
    CHECK(count_occurrences(a.out("images --digests --no-trunc"), a.digest) == 4);  // two rows, digest and id each

    const auto ids = lines_of(a.out("images -q"));
    CHECK(ids.size() == 3);
    CHECK(std::count(ids.begin(), ids.end(), id) == 2);
    CHECK(a.out("images -a -q") == a.out("images -q"));

    for (const auto& line : lines_of(a.out("images --format json"))) {
        const json row = json::parse(line);
        for (const char* key : {"Containers", "CreatedAt", "CreatedSince", "Digest", "ID", "Repository", "Size", "Tag"})
            CHECK(row.contains(key));
        if (row["Repository"] == "app") {
            CHECK(row["Tag"] == "1");
            CHECK(row["ID"] == id);
            CHECK(row["Digest"] == a.digest);
            CHECK(row["CreatedSince"].get<std::string>().ends_with(" ago"));
        }
    }
    const auto names = lines_of(a.out("images --format '{{.Repository}}:{{.Tag}}'"));
    CHECK(std::set<std::string>(names.begin(), names.end()) ==
          std::set<std::string>{"app:1", "reg:5000/user/app:latest", "busybox:latest"});
    const auto custom = lines_of(a.out("images --format 'table {{.ID}}\\t{{.Repository}}' --filter reference=app"));
    REQUIRE(custom.size() == 2);
    CHECK(std::regex_match(custom[0], std::regex("IMAGE ID +REPOSITORY")));
    CHECK(std::regex_match(custom[1], std::regex(id + " +app")));

    CHECK(trimmed(a.out("images --format '{{.Tag}}' --filter 'reference=reg:5000/*/*'")) == "latest");
    CHECK(trimmed(a.out("images --format '{{.Repository}}' --filter reference='*box:latest'")) == "busybox");
    CHECK(lines_of(a.out("images -q --filter label=a=1")).size() == 2);
    CHECK(a.out("images -q --filter label=a=2").empty());
    CHECK(a.out("images -q --filter dangling=true").empty());
    CHECK(lines_of(a.out("images -q --filter dangling=false")).size() == 3);

    // An image made in 2001 (SOURCE_DATE_EPOCH) lists last, and before/since compare creation times.
    const auto old = a.s.build("FROM scratch\nCOPY f /f\n", "-q -t old", {{"f", "old\n"}}, "SOURCE_DATE_EPOCH=1000000000");
    REQUIRE(old.exit_code == 0);
    const auto by_age = lines_of(a.out("images --format '{{.Repository}} {{.CreatedSince}} {{.CreatedAt}}'"));
    REQUIRE(by_age.size() == 4);
    CHECK(std::regex_match(by_age.back(), std::regex("old [0-9]+ years ago 2001-09-.*")));
    const auto before = a.out("images --format '{{.Repository}}' --filter before=app:1");
    CHECK(before.find("old\n") != std::string::npos);
    CHECK(before.find("app") == std::string::npos);
    const auto since = lines_of(a.out("images --format '{{.Repository}}' --filter since=old"));
    CHECK(std::set<std::string>(since.begin(), since.end()) == std::set<std::string>{"app", "reg:5000/user/app", "busybox"});

    const auto bad = a.s.strata("images --filter colour=red");
    CHECK(bad.exit_code != 0);
    CHECK(bad.output.find("invalid filter 'colour'") != std::string::npos);
    CHECK(a.s.strata("images --format '{{.Nope}}'").output.find("can't evaluate field Nope") != std::string::npos);
}

TEST_CASE("an untagged manifest in index.json is listed as <none> and filtered as dangling", "[integration][images]") {
    AppStore a;
    // Another tool (skopeo copy without a name) can leave a manifest without a name.
    const fs::path index_path = a.s.root / "oci" / "index.json";
    json index = json::parse(read_text(index_path));
    for (auto& entry : index["manifests"])
        if (entry["annotations"]["org.opencontainers.image.ref.name"] == "busybox:latest") entry.erase("annotations");
    write_text(index_path, index.dump());

    const auto dangling = lines_of(a.out("images --filter dangling=true"));
    REQUIRE(dangling.size() == 2);
    CHECK(std::regex_match(dangling[1], std::regex("<none> +<none> +[0-9a-f]{12} .*")));
    CHECK(a.out("images --filter reference='*'").find("<none>") == std::string::npos);
    const std::string busybox_id = trimmed(a.out("images -q --filter dangling=true"));
    const auto removed = a.s.strata("rmi " + busybox_id);
    INFO(removed.output);
    CHECK(removed.exit_code == 0);
    CHECK(removed.output.find("Deleted: sha256:" + busybox_id) != std::string::npos);
    CHECK(a.out("images -q --filter dangling=true").empty());
    CHECK(a.s.strata("run --rm app:1").output == "hi\n");  // its layers live on under app
}

TEST_CASE("inspect shows the image's config and manifest as docker's fields", "[integration][inspect]") {
    AppStore a;
    const json manifest = a.read_blob(a.digest);
    const json config = a.read_blob(manifest["config"]["digest"]);

    const json docs = json::parse(a.out("inspect app:1"));
    REQUIRE(docs.is_array());
    REQUIRE(docs.size() == 1);
    const json& doc = docs[0];
    CHECK(doc["Id"] == a.digest);
    CHECK(doc["RepoTags"] == json{"app:1", "reg:5000/user/app:latest"});
    CHECK(doc["RepoDigests"] == json{"app@" + a.digest, "reg:5000/user/app@" + a.digest});
    CHECK(doc["Created"] == config["created"]);
    CHECK(doc["Config"] == config["config"]);
    CHECK(doc["Config"]["Labels"]["a"] == "1");
    CHECK(doc["Architecture"] == config["architecture"]);
    CHECK(doc["Os"] == "linux");
    CHECK(doc["RootFS"]["Type"] == "layers");
    CHECK(doc["RootFS"]["Layers"] == config["rootfs"]["diff_ids"]);
    long long size = 0;
    for (const auto& layer : manifest["layers"]) size += layer["size"].get<long long>();
    CHECK(doc["Size"] == size);
    CHECK(doc["Manifest"] == manifest);
    CHECK(doc["Descriptor"]["digest"] == a.digest);

    CHECK(trimmed(a.out("inspect --format '{{.Id}}' app:1")) == a.digest);
    CHECK(trimmed(a.out("inspect -f '{{.Os}}/{{.Architecture}} {{index .RepoTags 0}} {{json .Config.Cmd}}' app:1")) ==
          "linux/" + config["architecture"].get<std::string>() + " app:1 [\"cat\",\"/made\"]");
    CHECK(trimmed(a.out("inspect -f '{{range .RepoTags}}[{{.}}]{{end}}{{if .Config.Labels.a}} labelled{{end}}' app:1")) ==
          "[app:1][reg:5000/user/app:latest] labelled");
    CHECK(lines_of(a.out("inspect -f '{{.Id}}' app:1 busybox")).size() == 2);

    // One missing image: the others are still shown, the status says it failed.
    const auto partly = a.s.strata_stdout("inspect app:1 no-such-image");
    CHECK(partly.exit_code == 1);
    CHECK(json::parse(partly.output).size() == 1);
}

TEST_CASE("history lists the config's steps newest first, empty ones as 0B", "[integration][history]") {
    AppStore a;
    const json config = a.read_blob(a.read_blob(a.digest)["config"]["digest"]);
    const json& steps = config["history"];

    const auto table = lines_of(a.out("history app:1"));
    REQUIRE(table.size() == steps.size() + 1);
    CHECK(std::regex_match(table[0], std::regex("IMAGE +CREATED +CREATED BY +SIZE +COMMENT")));
    CHECK(table[1].starts_with(a.digest.substr(7, 12) + " "));
    for (std::size_t i = 2; i < table.size(); ++i) CHECK(table[i].starts_with("<missing> "));

    std::vector<json> rows;
    for (const auto& line : lines_of(a.out("history --no-trunc --format json app:1"))) rows.push_back(json::parse(line));
    REQUIRE(rows.size() == steps.size());
    const auto layers = a.read_blob(a.digest)["layers"];
    std::size_t layer = layers.size();
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const json& step = steps[steps.size() - 1 - i];  // newest first
        INFO(step.dump());
        CHECK(rows[i]["CreatedBy"] == step.value("created_by", ""));
        if (step.value("empty_layer", false)) {
            CHECK(rows[i]["Size"] == "0B");
        } else {
            REQUIRE(layer > 0);
            CHECK(rows[i]["Size"] != "0B");
            --layer;
        }
    }
    CHECK(layer == 0);  // every layer had its step
    CHECK(rows[0]["ID"] == a.digest);
    CHECK(rows[1]["ID"] == "<missing>");
    CHECK(lines_of(a.out("history -q app:1")).front() == a.digest.substr(7, 12));

    // --human=false: sizes in bytes (each layer's blob size) and dates as RFC 3339.
    std::vector<json> raw;
    for (const auto& line : lines_of(a.out("history --human=false --format json app:1"))) raw.push_back(json::parse(line));
    REQUIRE(raw.size() == steps.size());
    const auto newest_layer = std::find_if(raw.begin(), raw.end(), [](const json& row) { return row["Size"] != "0"; });
    REQUIRE(newest_layer != raw.end());
    CHECK((*newest_layer)["Size"] == std::to_string(layers[layers.size() - 1]["size"].get<long long>()));
    CHECK(raw[0]["CreatedSince"] == raw[0]["CreatedAt"]);
    CHECK(std::regex_match(raw[0]["CreatedAt"].get<std::string>(), std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d.*)")));
}

TEST_CASE("names resolve by short name, full name, digest, name@digest and short id", "[integration][images]") {
    AppStore a;
    const std::string hex = a.digest.substr(7);
    const std::vector<std::string> names = {"app:1", "docker.io/library/app:1", "library/app:1", "reg:5000/user/app",
                                            a.digest, hex, hex.substr(0, 12), hex.substr(0, 4), "app@" + a.digest,
                                            "docker.io/library/app:1@" + a.digest};
    for (const auto& name : names) {
        INFO(name);
        CHECK(trimmed(a.out("inspect -f '{{.Id}}' " + quote(name))) == a.digest);
    }
    CHECK(a.s.strata("inspect app").exit_code == 1);  // app:latest
    CHECK(a.s.strata("inspect busybox@" + a.digest).exit_code == 1);  // busybox does not hold that manifest
    const auto upper = a.s.strata("inspect App:1");
    CHECK(upper.output.find("invalid reference format: repository name (library/App) must be lowercase") != std::string::npos);
    CHECK(a.s.strata("run --rm docker.io/library/app:1").output == "hi\n");
    CHECK(a.s.strata("run --rm " + hex.substr(0, 12)).output == "hi\n");
    // FROM takes the same names.
    const auto from = a.s.build("FROM docker.io/library/app:1@" + a.digest + "\nCMD [\"cat\", \"/made\"]\n", "-q -t from-digest");
    INFO(from.output);
    CHECK(from.exit_code == 0);
}

TEST_CASE("tag adds a name; rmi of one name keeps the image for the other", "[integration][rmi]") {
    AppStore a;
    CHECK(a.s.strata("tag app:1 docker.io/library/app:2").exit_code == 0);
    CHECK(a.s.strata("tag app:1 other/name").exit_code == 0);
    CHECK(trimmed(a.out("inspect -f '{{json .RepoTags}}' app:2")) ==
          "[\"app:1\",\"app:2\",\"other/name:latest\",\"reg:5000/user/app:latest\"]");
    const auto bad = a.s.strata("tag app:1 Bad/Name:x");
    CHECK(bad.exit_code != 0);
    CHECK(bad.output.find("invalid reference format") != std::string::npos);
    CHECK(a.s.strata("tag app:1 x@" + a.digest).output.find("digest reference") != std::string::npos);
    CHECK(a.s.strata("tag nothing:here x").output.find("no such image") != std::string::npos);

    const auto untag = a.s.strata("rmi app:1");
    INFO(untag.output);
    CHECK(untag.exit_code == 0);
    CHECK(untag.output == "Untagged: app:1\n");
    CHECK(a.s.strata("inspect app:1").exit_code == 1);
    CHECK(trimmed(a.out("inspect -f '{{.Id}}' app:2")) == a.digest);
    CHECK(fs::exists(a.blob(a.digest)));

    // By id, an image with several names is refused unless forced.
    const auto several = a.s.strata("rmi " + a.digest.substr(7, 12));
    CHECK(several.exit_code == 1);
    CHECK(several.output.find("referenced in multiple repositories") != std::string::npos);
}

TEST_CASE("rmi of the last name deletes the image; GC takes its blobs, not shared ones", "[integration][rmi]") {
    AppStore a;
    // Without cache records, only images keep layers alive: app's own layer is then its alone.
    REQUIRE(a.s.strata("prune --cache --all").exit_code == 0);
    const json manifest = a.read_blob(a.digest);
    const std::string config_digest = manifest["config"]["digest"];
    const std::string own_layer = manifest["layers"].back()["digest"];
    std::vector<std::string> shared;
    for (std::size_t i = 0; i + 1 < manifest["layers"].size(); ++i) shared.push_back(manifest["layers"][i]["digest"]);
    REQUIRE_FALSE(shared.empty());

    CHECK(a.s.strata("rmi reg:5000/user/app").output == "Untagged: reg:5000/user/app:latest\n");
    const auto last = a.s.strata("rmi app:1");
    INFO(last.output);
    CHECK(last.exit_code == 0);
    CHECK(last.output.find("Untagged: app:1\nDeleted: " + a.digest + "\n") == 0);
    CHECK(last.output.find("Deleted: " + own_layer) != std::string::npos);
    CHECK_FALSE(fs::exists(a.blob(a.digest)));
    CHECK_FALSE(fs::exists(a.blob(config_digest)));
    CHECK_FALSE(fs::exists(a.blob(own_layer)));
    for (const auto& layer : shared) CHECK(fs::exists(a.blob(layer)));
    CHECK(a.out("images --format '{{.Repository}}'") == "busybox\n");
    CHECK(a.s.strata("run --rm busybox echo ok").output == "ok\n");
    CHECK(a.s.strata("rmi app:1").output.find("no such image") != std::string::npos);

    // --no-prune leaves the objects to `strata prune`.
    const auto built = a.s.build("FROM busybox\nRUN echo other > /other\n", "-q -t other");
    REQUIRE(built.exit_code == 0);
    const std::string other = trimmed(built.output);
    REQUIRE(a.s.strata("prune --cache --all").exit_code == 0);
    CHECK(a.s.strata("rmi --no-prune other").exit_code == 0);
    CHECK(fs::exists(a.blob(other)));
    REQUIRE(a.s.strata("prune").exit_code == 0);
    CHECK_FALSE(fs::exists(a.blob(other)));
}

TEST_CASE("rmi refuses an image a kept container uses, unless forced", "[integration][rmi]") {
    AppStore a;
    REQUIRE(a.s.strata("rmi reg:5000/user/app").exit_code == 0);
    REQUIRE(a.s.strata("run --name on-app app:1").exit_code == 0);

    const auto by_name = a.s.strata("rmi app:1");
    CHECK(by_name.exit_code == 1);
    CHECK(by_name.output.find("container on-app is using its referenced image " + a.digest.substr(7, 12)) != std::string::npos);
    const auto by_id = a.s.strata("rmi " + a.digest);
    CHECK(by_id.exit_code == 1);
    CHECK(by_id.output.find("being used by stopped container on-app") != std::string::npos);
    CHECK(trimmed(a.out("inspect -f '{{.Id}}' app:1")) == a.digest);

    const auto forced = a.s.strata("rmi -f app:1");
    INFO(forced.output);
    CHECK(forced.exit_code == 0);
    CHECK(forced.output.find("Deleted: " + a.digest) != std::string::npos);
    CHECK(a.s.strata("inspect app:1").exit_code == 1);
    // The container still stands on the image's layers: commit works, and so does its image.
    const auto committed = a.s.strata_stdout("commit on-app from-container");
    CHECK(committed.exit_code == 0);
    CHECK(a.s.strata("run --rm from-container").output == "hi\n");
    CHECK(a.s.strata("rm on-app").exit_code == 0);
}

TEST_CASE("skopeo finds the tags in the store's layout by the familiar name", "[integration][images]") {
    if (sh("command -v skopeo").exit_code != 0) {
        WARN("skopeo not installed: skipping");
        return;
    }
    AppStore a;
    const std::string layout = (a.s.root / "oci").string();
    for (const char* name : {"app:1", "reg:5000/user/app:latest", "busybox:latest"}) {
        const auto inspect = sh_stdout("skopeo inspect " + quote("oci:" + layout + ":" + name));
        INFO(name);
        REQUIRE(inspect.exit_code == 0);
        if (std::string(name) == "app:1") CHECK(json::parse(inspect.output)["Digest"] == a.digest);
    }
    REQUIRE(a.s.strata("tag app:1 docker.io/library/full:2").exit_code == 0);
    CHECK(sh_stdout("skopeo inspect " + quote("oci:" + layout + ":full:2")).exit_code == 0);
    const json index = json::parse(read_text(a.s.root / "oci" / "index.json"));
    bool found = false;
    for (const auto& entry : index["manifests"])
        if (entry["annotations"]["org.opencontainers.image.ref.name"] == "full:2") {
            found = true;
            CHECK(entry["annotations"]["io.containerd.image.name"] == "docker.io/library/full:2");
        }
    CHECK(found);
}

} // namespace image_commands_test
