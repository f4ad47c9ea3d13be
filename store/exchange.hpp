#pragma once
// Image exchange: the store's images to and from the archives other tools read and write.
//
//   oci-archive     a tar of an OCI image layout (skopeo's and buildah's oci-archive:)
//   docker-archive  docker 25+'s `docker save`: one tar that is both an OCI image layout
//                   and a legacy docker archive (manifest.json and repositories naming
//                   the same blobs/sha256 files), so docker 20.10 and podman load it too
//
// Loading accepts both, docker 20.10's legacy `docker save` (<id>/layer.tar, <id>.json),
// and skopeo's and buildah's oci-archives, plain or gzip/zstd-compressed. An archive is
// hostile input: it is streamed into the store's staging, every file is verified, and
// blobs are published and images tagged only once the whole archive has been checked.
#include "store/store.hpp"

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace strata::store {

enum class ArchiveFormat {
    oci,     // oci-archive
    docker,  // docker-archive (docker 25+ layout)
};

// "oci-archive" / "docker-archive" -> format; throws for anything else.
ArchiveFormat parse_archive_format(std::string_view name);

// One image to export, under the names it is exported as ("name:tag" as the store keeps
// them; none: exported untagged, as docker does for an image saved by its id).
struct ExportImage {
    Descriptor manifest;
    std::vector<std::string> names;
};

// What `strata save IMAGE...` exports: a tag names its image; an image id or digest
// exports the image untagged. The same image named twice is exported once, with both names.
std::vector<ExportImage> resolve_for_export(const Store& store, const std::vector<std::string>& references);

// Writes the images as a tar archive to fd (a file or a pipe): sorted entries, fixed
// times and owners, so the same images always give the same bytes. Layers are copied
// from their blobs in bounded chunks and checked against their digests on the way.
void write_image_archive(const Store& store, const std::vector<ExportImage>& images, ArchiveFormat format, int fd);

// Writes the images as an OCI image layout into `dir`, which must be missing or empty.
void write_image_layout(const Store& store, const std::vector<ExportImage>& images, const fs::path& dir);

struct LoadLimits {
    std::size_t max_entries = 65536;                 // files in the archive
    std::size_t max_name_bytes = 4096;               // an entry's name
    std::size_t max_document_bytes = 4u << 20;       // one JSON document (index, manifest, config)
    std::size_t max_documents_total = 64u << 20;     // all documents held in memory at once
};

struct LoadedImage {
    Descriptor manifest;
    std::vector<std::string> names;  // the tags it got ("busybox:latest"); none when untagged
};

// Reads an archive (any supported format and compression) from fd, verifies it entirely,
// then stores its blobs and tags its images. `shown` names the input in errors. A
// hostile or damaged archive throws an Error naming the entry; nothing is tagged then.
std::vector<LoadedImage> load_image_archive(Store& store, int fd, std::string_view shown,
                                            const LoadLimits& limits = {});

} // namespace strata::store
