#!/usr/bin/env python3
"""Writes the torchvision 0.14 reference data that tests/test_model_parity.cpp compares against.

Run with Debian's python3-torchvision (/usr/bin/python3). Usage: make_model_fixtures.py OUT_DIR
For ResNet-18/34/50 (10 classes, seeded, batch-norm statistics randomised so that eval and train mode
differ): the state dict as a zip .pth, the logits in eval and in train mode on a fixed input, Grad-CAM
maps of layer4 for classes 3 and 7 (ResNet-18 and -50, computed with hooks); for
ResNet-18 also a legacy-format .pth, a .safetensors, the weights after one Adam step (lr 1e-4), and a
pickle that names os.system, which genrenet must refuse to load (it is never loaded here).
"""
import copy, json, os, struct, sys

import numpy as np
import torch
import torchvision


def save_safetensors(path, tensors):
    names = sorted(tensors)
    header, offset, blobs = {}, 0, []
    dtypes = {torch.float32: "F32", torch.int64: "I64"}
    for n in names:
        t = tensors[n].detach().contiguous()
        b = t.numpy().tobytes()
        header[n] = {"dtype": dtypes[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def randomise_bn(model, gen):
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=gen))
                m.weight.copy_(1 + 0.1 * torch.randn(m.weight.shape, generator=gen))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=gen))


class Evil:
    def __reduce__(self):
        return (os.system, ("echo this must never run",))


def rezip_deflated(out, name, state, inflated_bytes):
    """torch.save(state) with each storage record rewritten deflated, of `inflated_bytes` zeros if given."""
    import io
    import zipfile
    plain = io.BytesIO()
    torch.save(state, plain)
    plain.seek(0)
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(os.path.join(out, name), "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if "/data/" not in info.filename:
                dst.writestr(info, data)
                continue
            deflated = zipfile.ZipInfo(info.filename)
            deflated.compress_type = zipfile.ZIP_DEFLATED
            with dst.open(deflated, "w", force_zip64=True) as f:
                if inflated_bytes is None:
                    f.write(data)
                else:
                    chunk = bytes(1 << 20)
                    for _ in range(inflated_bytes >> 20):
                        f.write(chunk)


def grad_cam(m, x, classes):
    """Grad-CAM with PyTorch hooks: layer4's output and its gradient, as pytorch-grad-cam computes it."""
    saved = {}

    def keep(module, inputs, output):
        saved["a"] = output
        output.register_hook(lambda g: saved.__setitem__("g", g))

    hook = m.layer4.register_forward_hook(keep)
    m.zero_grad()
    m(x).gather(1, classes.unsqueeze(1)).sum().backward()
    hook.remove()
    weights = saved["g"].mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((weights * saved["a"]).sum(1, keepdim=True))
    return torch.nn.functional.interpolate(cam, size=x.shape[2:], mode="bilinear", align_corners=False)[:, 0].detach()


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(2)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 1, 64, 128, generator=gen)
    x3 = x.repeat(1, 3, 1, 1)
    y = torch.tensor([3, 7])
    np.save(os.path.join(out, "input.npy"), x.numpy())
    np.save(os.path.join(out, "labels.npy"), y.numpy().astype(np.float32))
    for arch in ["resnet18", "resnet34", "resnet50"]:
        torch.manual_seed(0)
        m = getattr(torchvision.models, arch)(num_classes=10)
        randomise_bn(m, gen)
        sd = m.state_dict()
        torch.save(sd, os.path.join(out, arch + ".pth"))
        m.eval()
        with torch.no_grad():
            np.save(os.path.join(out, arch + "_eval.npy"), m(x3).numpy())
            mt = copy.deepcopy(m).train()
            np.save(os.path.join(out, arch + "_train.npy"), mt(x3).numpy())
        if arch in ("resnet18", "resnet50"):
            np.save(os.path.join(out, arch + "_gradcam.npy"), grad_cam(m, x3, y).numpy())
        if arch == "resnet18":
            torch.save(sd, os.path.join(out, "resnet18_legacy.pth"), _use_new_zipfile_serialization=False)
            save_safetensors(os.path.join(out, "resnet18.safetensors"), sd)
            ma = copy.deepcopy(m).train()
            opt = torch.optim.Adam(ma.parameters(), lr=1e-4)
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(ma(x3), y)
            loss.backward()
            opt.step()
            save_safetensors(os.path.join(out, "resnet18_adam.safetensors"), ma.state_dict())
    torch.save({"conv1.weight": torch.zeros(1), "payload": Evil()}, os.path.join(out, "evil.pth"))
    # Zip bombs: a record that inflates to far more than its storage declares, and one that declares its
    # size honestly but inflates 1000 times (8 MiB of zeros).
    rezip_deflated(out, "bomb.pth", {"a": torch.zeros(262144)}, inflated_bytes=1 << 30)
    rezip_deflated(out, "inflating.pth", {"a": torch.zeros(1 << 21)}, inflated_bytes=None)
    print("torchvision %s fixtures written to %s" % (torchvision.__version__, out))


if __name__ == "__main__":
    main()
