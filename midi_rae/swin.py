"""The spec's models: a hierarchical Swin V2 encoder over piano-roll images and its decoders.

Every constructor takes the spec's arguments, in the spec's order, with the spec's defaults.
State-dict keys follow the original midi-rae code so that its checkpoints load with strict=True.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import trunc_normal_
from timm.models.swin_transformer_v2 import SwinTransformerV2Stage
from torch.nn import LayerNorm

from .core import EncoderOutput, HierarchicalPatchState, PatchState

__all__ = ["SwinEncoder", "SwinDecoder", "PatchExpand", "SwinMAEDecoder", "PixelShuffleHead",
           "SwinMaskedEmbeddingPredictor", "RoPE2D", "RoPEAttention", "RoPEBlock",
           "NON_EMPTY_THRESHOLD", "grid_positions", "make_mae_mask"]

NON_EMPTY_THRESHOLD = 0.2  # a patch is non-empty when its max pixel is above this


def grid_positions(h: int, w: int, device: torch.device | str | None = None) -> torch.Tensor:
    """(h*w, 2) long tensor of (row, col) for a row-major h x w grid."""
    rows, cols = torch.meshgrid(torch.arange(h, device=device), torch.arange(w, device=device), indexing="ij")
    return torch.stack([rows, cols], dim=-1).reshape(-1, 2)


def make_mae_mask(non_empty: torch.Tensor, mask_ratio: float, empty_mask_ratio: float,
                  generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Two-rate MAE mask, (B, N) bool, True = visible.

    Non-empty patches are masked with probability `mask_ratio`, empty ones with
    `mask_ratio * empty_mask_ratio` (empty patches are trivial to reconstruct, so masking
    many of them would teach little).
    """
    rand = torch.rand(non_empty.shape, device=non_empty.device, generator=generator)
    masked_p = torch.where(non_empty.bool(), torch.full_like(rand, mask_ratio),
                           torch.full_like(rand, mask_ratio * empty_mask_ratio))
    return rand >= masked_p


def _stochastic_depth_rates(drop_path_rate: float, depths: Sequence[int]) -> list[list[float]]:
    """Linearly increasing drop-path rate over all blocks, split per stage."""
    # on the CPU even inside `with torch.device("meta")`: the checkpoint loader sizes models on the meta device
    rates = torch.linspace(0, drop_path_rate, sum(depths), device="cpu").tolist()
    out, i = [], 0
    for d in depths:
        out.append(rates[i:i + d])
        i += d
    return out


def _init_linear_conv(m: nn.Module) -> None:
    if isinstance(m, (nn.Linear, nn.Conv2d)) and not m.weight.is_meta:  # a meta skeleton is only measured
        trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.constant_(m.bias, 0)


class SwinEncoder(nn.Module):
    """Swin Transformer V2 encoder: (B, C, H, W) piano roll -> hierarchical patch embeddings."""

    def __init__(self,
                 img_height: int,                      # Input image height in pixels (e.g. 128)
                 img_width: int,                       # Input image width in pixels (e.g. 128)
                 patch_h: int = 4,                     # Patch height for initial embedding
                 patch_w: int = 4,                     # Patch width for initial embedding
                 in_chans: int = 1,                    # Number of input channels (1 for piano roll)
                 embed_dim: int = 8,                   # Base embedding dimension (doubles each stage)
                 depths: tuple = (1, 2, 2, 6, 2, 1),   # Number of transformer blocks per stage
                 num_heads: tuple = (1, 1, 2, 4, 8, 16),  # Attention heads per stage
                 window_size: int = 8,                 # Window size for windowed attention
                 mlp_ratio: float = 4.0,               # MLP hidden dim = embed_dim * mlp_ratio
                 qkv_bias: bool = True,                # Add bias to QKV projections
                 drop_rate: float = 0.0,               # Dropout after patch embedding
                 proj_drop_rate: float = 0.0,          # Dropout after attention projection
                 attn_drop_rate: float = 0.0,          # Dropout on attention weights
                 drop_path_rate: float = 0.1,          # Stochastic depth rate
                 norm_layer: type = LayerNorm,         # Normalization layer class
                 mae_ratio: float = 0.0,               # Fraction of non-empty patches to mask (0=no masking)
                 empty_mask_ratio: float = 0.05,       # Mask rate for empty patches relative to mae_ratio
                 squash_coarse: bool = False,          # Overwrite coarse-level empty patch tokens with a learned token
                 ):
        super().__init__()
        if img_height % patch_h or img_width % patch_w:
            raise ValueError(f"image {img_height}x{img_width} is not divisible into {patch_h}x{patch_w} patches")
        self.num_stages, self.embed_dim = len(depths), embed_dim
        if len(num_heads) != self.num_stages:
            raise ValueError(f"depths has {len(depths)} stages but num_heads has {len(num_heads)}")
        self.grid_size = (img_height // patch_h, img_width // patch_w)
        if self.grid_size[0] != 2 ** (self.num_stages - 1) or self.grid_size[1] != 2 ** (self.num_stages - 1):
            raise ValueError(f"a {self.grid_size[0]}x{self.grid_size[1]} patch grid needs "
                             f"{self.grid_size[0].bit_length()} stages to reach 1x1, not {self.num_stages}")
        self.num_features = embed_dim * 2 ** (self.num_stages - 1)
        self.patch_h, self.patch_w = patch_h, patch_w
        self.mae_ratio, self.empty_mask_ratio = mae_ratio, empty_mask_ratio

        self.patch_embed = nn.Conv2d(in_chans, embed_dim, kernel_size=(patch_h, patch_w), stride=(patch_h, patch_w))
        self.patch_norm = norm_layer(embed_dim)
        self.pos_drop = nn.Dropout(p=drop_rate)
        self.empty_token = nn.Parameter(torch.zeros(embed_dim))
        self.mask_token = nn.Parameter(torch.zeros(embed_dim))
        dims = [embed_dim * 2 ** i for i in range(self.num_stages)]
        # random, not zero: identical all-zero tokens give attention nothing to distinguish
        self.empty_tokens = nn.ParameterList([nn.Parameter(torch.randn(d)) for d in dims]) if squash_coarse else None

        dpr = _stochastic_depth_rates(drop_path_rate, depths)
        self.stages = nn.ModuleList()
        for i in range(self.num_stages):
            in_scale = 2 ** max(i - 1, 0)  # stage i > 0 first merges patches of the previous grid
            self.stages.append(SwinTransformerV2Stage(
                dim=dims[max(i - 1, 0)], out_dim=dims[i], depth=depths[i], num_heads=num_heads[i],
                input_resolution=(self.grid_size[0] // in_scale, self.grid_size[1] // in_scale),
                window_size=window_size, downsample=i > 0, mlp_ratio=mlp_ratio, qkv_bias=qkv_bias,
                proj_drop=proj_drop_rate, attn_drop=attn_drop_rate, drop_path=dpr[i], norm_layer=norm_layer))
        self.norm = norm_layer(self.num_features)
        self.apply(_init_linear_conv)
        for stage in self.stages:
            stage._init_respostnorm()

    @torch.jit.ignore
    def no_weight_decay(self) -> set[str]:
        """Parameter names that weight decay should skip."""
        names = {"empty_token", "mask_token"}
        names |= {n for n, _ in self.named_parameters()
                  if n.startswith("empty_tokens.") or "cpb_mlp" in n or "logit_scale" in n}
        return names

    def _check_input(self, x, mask_ratio: float) -> None:
        """A ValueError naming what is wrong with an input, rather than an error from deep inside torch or timm."""
        gh, gw = self.grid_size
        shape = (self.patch_embed.in_channels, gh * self.patch_h, gw * self.patch_w)
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a torch.Tensor of shape (B, {', '.join(map(str, shape))}), "
                            f"not {type(x).__name__}")
        if x.dim() != 4 or tuple(x.shape[1:]) != shape or x.shape[0] == 0:
            raise ValueError(f"x must have shape (B, {', '.join(map(str, shape))}) with B ≥ 1, got {tuple(x.shape)}")
        if x.dtype != self.patch_embed.weight.dtype:
            raise ValueError(f"x is {x.dtype} and the weights are {self.patch_embed.weight.dtype}: "
                             f"pass x.to({self.patch_embed.weight.dtype})")
        if not 0.0 <= mask_ratio <= 1.0:
            raise ValueError(f"mask_ratio must lie in [0, 1], got {mask_ratio!r}")

    def _compute_non_empty(self, img: torch.Tensor) -> torch.Tensor:
        """(B, N) bool: which finest-grid patches have a pixel above the threshold."""
        patches = img.unfold(2, self.patch_h, self.patch_h).unfold(3, self.patch_w, self.patch_w)
        return (patches.amax(dim=(1, -1, -2)) > NON_EMPTY_THRESHOLD).flatten(1)

    def make_mae_mask(self, non_empty: torch.Tensor, mask_ratio: Optional[float] = None,
                      generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Two-rate (B, N) mask, True = visible, at `mask_ratio` (default: self.mae_ratio)."""
        ratio = self.mae_ratio if mask_ratio is None else mask_ratio
        return make_mae_mask(non_empty, ratio, self.empty_mask_ratio, generator)

    def forward(self, x: torch.Tensor, mask_ratio: float = 0.0,
                mae_mask: Optional[torch.Tensor] = None) -> EncoderOutput:
        """x: (B, C, H, W) in the weights' float dtype (a binary roll: 0 or 1). mask_ratio > 0 overrides
        self.mae_ratio; mae_mask (B, N) or (N,), True = visible."""
        self._check_input(x, mask_ratio)
        B, device = x.shape[0], x.device
        gh, gw = self.grid_size
        non_empty = self._compute_non_empty(x)
        z = self.patch_norm(self.patch_embed(x).permute(0, 2, 3, 1))         # (B, gh, gw, C)
        z = torch.where(non_empty.view(B, gh, gw, 1), z, self.empty_token.to(z.dtype))

        ratio = mask_ratio if mask_ratio > 0 else self.mae_ratio
        if mae_mask is None and ratio > 0:
            mae_mask = self.make_mae_mask(non_empty, ratio)
        if mae_mask is not None:
            mae_mask = mae_mask.to(device=device, dtype=torch.bool).expand(B, gh * gw)
            z = torch.where(mae_mask.view(B, gh, gw, 1), z, self.mask_token.to(z.dtype))
        else:
            mae_mask = torch.ones(B, gh * gw, dtype=torch.bool, device=device)
        z = self.pos_drop(z)

        feats, masks = [], []
        ne = non_empty.view(B, 1, gh, gw).float()
        for i, stage in enumerate(self.stages):
            # a single 1x1 token has nothing to attend to: the last stage only merges
            z = stage.downsample(z) if i == self.num_stages - 1 else stage(z)
            while ne.shape[-1] > z.shape[2]:
                ne = F.max_pool2d(ne, 2)
            if self.empty_tokens is not None:
                z = torch.where(ne.permute(0, 2, 3, 1) > 0, z, self.empty_tokens[i].to(z.dtype))
            feats.append(z)
            masks.append(ne.reshape(B, -1) > 0)
        feats[-1] = self.norm(feats[-1])
        if self.empty_tokens is not None:
            feats[-1] = torch.where(ne.permute(0, 2, 3, 1) > 0, feats[-1], self.empty_tokens[-1].to(z.dtype))

        levels = []
        for f, m in zip(reversed(feats), reversed(masks)):
            _, h, w, c = f.shape
            levels.append(PatchState(emb=f.reshape(B, h * w, c), pos=grid_positions(h, w, device),
                                     non_empty=m, mae_mask=torch.ones(h * w, dtype=torch.bool, device=device)))
        return EncoderOutput(patches=HierarchicalPatchState(levels), full_pos=grid_positions(gh, gw, device),
                             full_non_empty=non_empty, mae_mask=mae_mask)


class PatchExpand(nn.Module):
    """Inverse of patch merging: (B, H, W, in_dim) -> (B, 2H, 2W, out_dim) by a learned linear expansion."""

    def __init__(self, in_dim: int, out_dim: int, norm_layer: type = LayerNorm):
        super().__init__()
        self.expand = nn.Linear(in_dim, 4 * out_dim, bias=False)
        self.norm = norm_layer(out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, H, W, in_dim)."""
        B, H, W, _ = x.shape
        x = self.expand(x).view(B, H, W, 2, 2, -1).permute(0, 1, 3, 2, 4, 5).reshape(B, 2 * H, 2 * W, -1)
        return self.norm(x)


class SwinDecoder(nn.Module):
    """Swin V2 decoder: coarsest to finest, each level upsampled, fused with its encoder level, attended."""

    def __init__(self,
                 img_height: int = 128,                # Output image height
                 img_width: int = 128,                 # Output image width
                 patch_h: int = 4,                     # Patch height (must match encoder)
                 patch_w: int = 4,                     # Patch width (must match encoder)
                 out_channels: int = 1,                # Output channels (1 for piano roll)
                 embed_dim: int = 8,                   # Base embedding dim (same as encoder)
                 depths: tuple = (1, 2, 2, 6, 2, 1),   # Encoder depths (finest->coarsest); reversed internally
                 num_heads: tuple = (1, 1, 2, 4, 8, 16),  # Encoder heads (finest->coarsest); reversed internally
                 window_size: int = 8,                 # Window size for windowed attention
                 mlp_ratio: float = 4.0,               # MLP hidden dim = dim * mlp_ratio
                 qkv_bias: bool = True,                # Bias in QKV projections
                 drop_path_rate: float = 0.1,          # Stochastic depth rate
                 proj_drop_rate: float = 0.0,          # Dropout after attention projection
                 attn_drop_rate: float = 0.0,          # Dropout on attention weights
                 norm_layer: type = LayerNorm):
        super().__init__()
        n = len(depths)
        self.patch_h, self.patch_w, self.out_channels = patch_h, patch_w, out_channels
        self.finest_h, self.finest_w = img_height // patch_h, img_width // patch_w
        dims = [embed_dim * 2 ** (n - 1 - i) for i in range(n)]              # coarsest first
        dec_depths, dec_heads = list(reversed(depths)), list(reversed(num_heads))
        grids = [(self.finest_h >> (n - 1 - i), self.finest_w >> (n - 1 - i)) for i in range(n)]
        dpr = _stochastic_depth_rates(drop_path_rate, dec_depths)

        self.laterals = nn.ModuleList([nn.Linear(d, d) for d in dims])
        self.stages = nn.ModuleList([
            None if gh * gw <= 1 else SwinTransformerV2Stage(
                dim=dims[i], out_dim=dims[i], depth=dec_depths[i], num_heads=dec_heads[i], input_resolution=(gh, gw),
                window_size=window_size, downsample=False, mlp_ratio=mlp_ratio, qkv_bias=qkv_bias,
                proj_drop=proj_drop_rate, attn_drop=attn_drop_rate, drop_path=dpr[i], norm_layer=norm_layer)
            for i, (gh, gw) in enumerate(grids)])
        self.upsamples = nn.ModuleList([PatchExpand(dims[i], dims[i + 1], norm_layer) for i in range(n - 1)])
        self.norm = norm_layer(dims[-1])
        self.head = nn.Linear(dims[-1], out_channels * patch_h * patch_w)
        self.apply(_init_linear_conv)
        for stage in self.stages:
            if stage is not None:
                stage._init_respostnorm()

    @torch.jit.ignore
    def no_weight_decay(self) -> set[str]:
        """Parameter names that weight decay should skip."""
        return {n for n, _ in self.named_parameters() if "cpb_mlp" in n or "logit_scale" in n}

    def forward(self, enc_out: EncoderOutput) -> torch.Tensor:
        """EncoderOutput -> (B, out_channels, H, W) logits."""
        levels = enc_out.patches.levels
        if len(levels) != len(self.laterals):
            raise ValueError(f"decoder expects {len(self.laterals)} levels, the encoder gave {len(levels)}")
        B = levels[0].emb.shape[0]
        z = None
        for i, lv in enumerate(levels):
            gh, gw = lv.grid
            lat = self.laterals[i](lv.emb).view(B, gh, gw, -1)
            z = lat if z is None else self.upsamples[i - 1](z) + lat
            if self.stages[i] is not None:
                z = self.stages[i](z)
        px = self.head(self.norm(z))                                            # (B, fh, fw, C*ph*pw)
        px = px.view(B, self.finest_h, self.finest_w, self.patch_h, self.patch_w, self.out_channels)
        return px.permute(0, 5, 1, 3, 2, 4).reshape(
            B, self.out_channels, self.finest_h * self.patch_h, self.finest_w * self.patch_w)


class RoPE2D(nn.Module):
    """2-D rotary position embedding: first half of each head rotated by row, second half by column."""

    def __init__(self, head_dim: int):
        super().__init__()
        i = torch.arange(0, head_dim // 4)
        self.register_buffer("ifreq", 1.0 / (10000 ** (2 * i / head_dim)))

    @staticmethod
    def _rotate(x: torch.Tensor, sin: torch.Tensor, cos: torch.Tensor) -> torch.Tensor:
        even, odd = x[..., 0::2], x[..., 1::2]
        return torch.stack([even * cos - odd * sin, odd * cos + even * sin], dim=-1).flatten(-2)

    def forward(self, x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """x: (B, heads, N, head_dim); pos: (N, 2) (row, col)."""
        half = x.shape[-1] // 2
        out = []
        for part, p in ((x[..., :half], pos[:, 0]), (x[..., half:], pos[:, 1])):
            ang = torch.outer(p.to(self.ifreq.dtype), self.ifreq)
            out.append(self._rotate(part, ang.sin().to(x.dtype), ang.cos().to(x.dtype)))
        return torch.cat(out, dim=-1)


class RoPEAttention(nn.Module):
    """Multi-head self-attention with 2-D rotary positions on queries and keys."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.rope = RoPE2D(self.head_dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """x: (B, N, dim); pos: (N, 2)."""
        B, N, D = x.shape
        q, k, v = self.qkv(x).view(B, N, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(self.rope(q, pos), self.rope(k, pos), v)
        return self.proj(out.transpose(1, 2).reshape(B, N, D))


class RoPEBlock(nn.Module):
    """Pre-norm transformer block: x + attn(norm1 x), then x + MLP(norm2 x)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0):
        super().__init__()
        self.attn = RoPEAttention(dim, heads)
        self.lin1, self.lin2 = nn.Linear(dim, int(dim * mlp_ratio)), nn.Linear(int(dim * mlp_ratio), dim)
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """x: (B, N, dim); pos: (N, 2)."""
        x = x + self.attn(self.norm1(x), pos)
        return x + self.lin2(self.act(self.lin1(self.norm2(x))))


def _upsample_into(coarse: torch.Tensor, fine: torch.Tensor) -> torch.Tensor:
    """Nearest-neighbour upsample (B, Nc, C) tokens of a square grid to fine's grid and add them."""
    B, Nc, C = coarse.shape
    Nf = fine.shape[1]
    gc, gf = round(Nc ** 0.5), round(Nf ** 0.5)
    up = F.interpolate(coarse.view(B, gc, gc, C).permute(0, 3, 1, 2), size=(gf, gf), mode="nearest")
    return fine + up.permute(0, 2, 3, 1).reshape(B, Nf, C)


class SwinMAEDecoder(nn.Module):
    """FPN-style MAE decoder: a top-down pathway fuses all levels, reconstructs patch pixels at the finest."""

    def __init__(self, patch_size: int = 4, dims: tuple = (256, 128, 64, 32, 16, 8), fpn_dim: int = 64,
                 depth: int = 2, heads: int = 4):
        super().__init__()
        self.patch_size = patch_size
        self.laterals = nn.ModuleList([nn.Linear(d, fpn_dim) for d in dims])
        self.mask_token = nn.Parameter(torch.randn(1, 1, fpn_dim))
        self.blocks = nn.ModuleList([RoPEBlock(fpn_dim, heads) for _ in range(depth)])
        self.proj = nn.Linear(fpn_dim, patch_size * patch_size)

    def forward(self, enc_out: EncoderOutput) -> torch.Tensor:
        """EncoderOutput -> (B, N_finest, patch_size**2) logits per finest patch."""
        levels = enc_out.patches.levels
        z = self.laterals[0](levels[0].emb)
        for lat, lv in zip(self.laterals[1:], levels[1:]):
            z = _upsample_into(z, lat(lv.emb))
        visible = enc_out.mae_mask.bool().unsqueeze(-1)
        z = torch.where(visible, z, self.mask_token.to(z.dtype))
        for block in self.blocks:
            z = block(z, levels[-1].pos)
        return self.proj(z)


class PixelShuffleHead(nn.Module):
    """Convolutional unpatchify head: (B, N, fpn_dim) tokens on a grid -> (B, out_channels, H, W)."""

    def __init__(self, out_channels: int = 1, fpn_dim: int = 64, hidden_ch: int = 64, patch_size: int = 4,
                 grid_h: int = 32, grid_w: int = 32):
        super().__init__()
        self.fpn_dim, self.patch_size, self.grid_h, self.grid_w = fpn_dim, patch_size, grid_h, grid_w
        doublings = patch_size.bit_length() - 1
        if 2 ** doublings != patch_size:
            raise ValueError(f"PixelShuffleHead needs a power-of-two patch size, not {patch_size}")
        if doublings == 1:
            layers: list[nn.Module] = [nn.Conv2d(fpn_dim, 4 * out_channels, kernel_size=3, padding=1)]
        else:
            layers = [nn.Conv2d(fpn_dim, hidden_ch, kernel_size=3, padding=1), nn.GELU()]
        for j in range(doublings - 1):
            last = j == doublings - 2
            layers += [nn.PixelShuffle(2),
                       nn.Conv2d(hidden_ch // 4, 4 * out_channels if last else hidden_ch, kernel_size=3, padding=1)]
            if not last:
                layers.append(nn.GELU())
        layers.append(nn.PixelShuffle(2))
        self.layers = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """z: (B, grid_h*grid_w, fpn_dim) -> (B, out_channels, grid_h*patch_size, grid_w*patch_size)."""
        B, N, C = z.shape
        return self.layers(z.transpose(1, 2).reshape(B, C, self.grid_h, self.grid_w))


class SwinMaskedEmbeddingPredictor(nn.Module):
    """Perceiver-style hierarchical embedding predictor (I-JEPA-inspired): Mask -> Summarize -> Mix -> Predict.

    Returns (preds, masks): per level (coarsest first) the predicted (B, N_i, D_i) embeddings and
    the (B, N_i) bool masks used, True = visible; compute the loss on ~mask positions.
    """

    def __init__(self, dims: tuple = (256, 128, 64, 32, 16, 8), summary_dim: int = 128,
                 n_summaries: Optional[tuple] = None, mix_depth: int = 2, heads: int = 4,
                 mask_ratio: float = 0.4, mr_level_fac: float = 1.25):
        super().__init__()
        n = len(dims)
        self.n_levels, self.mask_ratio, self.mr_level_fac = n, mask_ratio, mr_level_fac
        # one summary token at the coarsest level, doubling towards the finest
        self.n_summaries = tuple(n_summaries) if n_summaries is not None else tuple(2 ** i for i in range(n))
        self.mask_tokens = nn.ParameterList([nn.Parameter(torch.randn(d) * 0.02) for d in dims])
        self.kv_projs = nn.ModuleList([nn.Linear(d, summary_dim) for d in dims])
        self.summary_queries = nn.ParameterList([nn.Parameter(torch.randn(s, summary_dim) * 0.02)
                                                 for s in self.n_summaries])
        self.summary_attn = nn.ModuleList([nn.MultiheadAttention(summary_dim, heads, batch_first=True)
                                           for _ in range(n)])
        self.level_emb = nn.ParameterList([nn.Parameter(torch.randn(1, s, summary_dim) * 0.02)
                                           for s in self.n_summaries])
        self.mix = nn.TransformerEncoder(
            nn.TransformerEncoderLayer(summary_dim, heads, dim_feedforward=4 * summary_dim,
                                       batch_first=True, norm_first=True),
            num_layers=mix_depth, enable_nested_tensor=False)
        self.pos_proj = nn.Linear(2, summary_dim)
        self.pred_level_emb = nn.ParameterList([nn.Parameter(torch.randn(1, 1, summary_dim) * 0.02)
                                                for _ in range(n)])
        self.pred_attn = nn.ModuleList([nn.MultiheadAttention(summary_dim, heads, batch_first=True)
                                        for _ in range(n)])
        self.out_projs = nn.ModuleList([nn.Linear(summary_dim, d) for d in dims])
        self.apply(self._init_linear)

    @staticmethod
    def _init_linear(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.constant_(m.bias, 0)

    def level_mask_ratios(self, mask_ratio: Optional[float] = None) -> list[float]:
        """Per-level mask ratios, coarsest first: the finest gets mask_ratio, each coarser / mr_level_fac."""
        r = self.mask_ratio if mask_ratio is None else mask_ratio
        return [r / self.mr_level_fac ** (self.n_levels - 1 - i) for i in range(self.n_levels)]

    def forward(self, enc_out: EncoderOutput, mask_ratio: Optional[float] = None,
                generator: Optional[torch.Generator] = None) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Mask each level at its ratio, summarize, mix across levels, predict every position."""
        levels = enc_out.patches.levels
        B, device = levels[0].emb.shape[0], levels[0].emb.device
        masks = [torch.rand(lv.emb.shape[:2], device=device, generator=generator) >= r
                 for lv, r in zip(levels, self.level_mask_ratios(mask_ratio))]
        summaries = []
        for i, lv in enumerate(levels):
            emb = torch.where(masks[i].unsqueeze(-1), lv.emb, self.mask_tokens[i].to(lv.emb.dtype))
            kv = self.kv_projs[i](emb)
            q = self.summary_queries[i].unsqueeze(0).expand(B, -1, -1)
            s, _ = self.summary_attn[i](q, kv, kv, need_weights=False)
            summaries.append(s + self.level_emb[i])
        mixed = self.mix(torch.cat(summaries, dim=1))
        preds = []
        for i, lv in enumerate(levels):
            q = self.pos_proj(lv.pos.to(mixed.dtype)).unsqueeze(0).expand(B, -1, -1) + self.pred_level_emb[i]
            p, _ = self.pred_attn[i](q, mixed, mixed, need_weights=False)
            preds.append(self.out_projs[i](p))
        return preds, masks
