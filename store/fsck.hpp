#pragma once
// strata fsck: checks that the store holds what its names say, and optionally repairs it.
//
//   blobs       every file under oci/blobs/sha256 is re-hashed (streamed, several at once)
//               and must match its name; a name that is not a digest is a problem
//   images      every index.json entry: manifest, config and layers exist with the sizes
//               and media types their descriptors give, and parse (an image index: those
//               of its manifests the store holds, as garbage collection reads it)
//   records     every record is JSON and each blob and snapshot its "refs" names exists
//   containers  each kept container has its container.json and the image it stands on
//   leftovers   temp files of an interrupted atomic write, strays in blobs/, snapshots/, tmp/
//
// Objects that nothing references are not problems: they are garbage, which prune frees
// (a build killed between writing a layer and its record leaves some); they are counted.
//
// Repair removes corrupt blobs, the index.json entries and records that can no longer
// resolve, and the leftovers; references go first, then objects, as prune does, so a crash
// midway leaves garbage, never a dangling name. It never removes a valid object, and never
// a kept container (its writable layer is the user's data: `strata rm` removes it).
// fsck holds the GC lock exclusively (GcLock::Mode::collect) for its whole run: no build
// writes meanwhile, so a build's temp files are never taken for leftovers.
#include "store/store.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace strata::store {

struct FsckOptions {
    bool repair = false;
    unsigned threads = 0;           // blobs hashed at once; 0 = one per core
    std::function<void()> on_wait;  // called once if fsck has to wait for running builds
};

struct FsckProblem {
    std::string subject;  // "blob sha256:...", "image hello:latest", "record steps/<key>", a path
    std::string message;  // what is wrong
    std::string repair;   // what --repair did ("removed"); empty when nothing was done
};

struct FsckReport {
    std::vector<FsckProblem> problems;
    std::size_t blobs = 0;
    std::int64_t blob_bytes = 0;
    std::size_t images = 0;  // index.json entries
    std::size_t records = 0;
    std::size_t containers = 0;
    std::size_t snapshots = 0;
    std::size_t unreferenced_blobs = 0;  // garbage: prune frees these
    std::size_t unreferenced_snapshots = 0;

    std::size_t repaired() const;
    // True when every problem found was repaired (or none was found).
    bool clean_now() const { return repaired() == problems.size(); }
};

FsckReport fsck(Store& store, const FsckOptions& options = {});

// One line: "<subject>: <message>" plus " (<repair>)" when repaired.
std::string describe(const FsckProblem& problem);

} // namespace strata::store
