// A training run's folder: the names of its files in one place, and the epoch checkpoint written as one
// atomic commit (all of an epoch's files or none of them), so that a run killed at any instant resumes
// from a consistent epoch.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace genrenet::io {

class RunFolder {
 public:
  explicit RunFolder(std::filesystem::path root) : root_(std::move(root)) {}

  const std::filesystem::path& root() const { return root_; }
  std::filesystem::path config() const { return root_ / "config.json"; }
  std::filesystem::path split() const { return root_ / "split.json"; }
  std::filesystem::path dataset() const { return root_ / "dataset.json"; }  // a tagged library's genres (--from-tags)
  // The last finished epoch's state (epoch, best epoch, history, precision): present once an epoch is done.
  std::filesystem::path state() const { return root_ / "last.json"; }
  std::filesystem::path last_model() const { return root_ / "last.safetensors"; }
  std::filesystem::path best_model() const { return root_ / "best.safetensors"; }
  std::filesystem::path optimizer() const { return root_ / "last.optimizer.pt"; }
  std::filesystem::path metrics() const { return root_ / "metrics.csv"; }
  std::filesystem::path curves() const { return root_ / "curves.png"; }
  std::filesystem::path evaluation(const std::string& subset) const { return root_ / ("eval-" + subset + ".json"); }
  std::filesystem::path confusion(const std::string& subset) const { return root_ / ("confusion-" + subset + ".png"); }
  std::filesystem::path reliability(const std::string& subset) const { return root_ / ("reliability-" + subset + ".png"); }
  std::filesystem::path fold(int f) const { return root_ / ("fold-" + std::to_string(f)); }
  std::filesystem::path kfold_summary() const { return root_ / "kfold.json"; }
  std::filesystem::path experiment_test() const { return root_ / "test.json"; }

  bool has_finished_epoch() const { return std::filesystem::exists(state()); }

  // One file of a checkpoint: its name in the run folder and a function that writes it to the path given.
  // `same_as` names a file written before it in the same checkpoint with the same bytes (an improving
  // epoch's best model is its last one): it is then staged as a hard link to that file, one write and one
  // flush of its bytes instead of two, and written by `write` only where the file system refuses the link.
  // Safe because nothing writes a run's files in place: each later write replaces a name with a new file.
  struct File {
    std::string name;
    std::function<void(const std::filesystem::path&)> write;
    std::string same_as = {};
  };

  // Writes `files` into a staging folder, makes them the checkpoint with one rename (the commit point), then
  // moves each into the run folder. A kill before the rename leaves the previous checkpoint; a kill after it
  // leaves a commit that recover() completes.
  void commit(const std::vector<File>& files) const;

  // Completes an interrupted commit, discards a half-staged one and removes the temporary files of writes
  // that were killed (those of live processes are left alone). Returns one line per thing done.
  std::vector<std::string> recover() const;
  // recover(), each thing done printed as a note on stderr (what train, evaluate and calibrate do first).
  void recover_and_report() const;

  // Removes the checkpoint files of a previous run (before training over it from scratch).
  void remove_checkpoint() const;

 private:
  std::filesystem::path staging() const { return root_ / ".checkpoint.staging"; }
  std::filesystem::path committed() const { return root_ / ".checkpoint.commit"; }
  std::filesystem::path root_;
};

// Holds an exclusive lock on a run folder for as long as it lives: a second training on the same folder
// is refused by name instead of interleaving its checkpoints with the first one's.
class RunFolderLock {
 public:
  explicit RunFolderLock(const RunFolder& folder);
  ~RunFolderLock();
  RunFolderLock(const RunFolderLock&) = delete;
  RunFolderLock& operator=(const RunFolderLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace genrenet::io
