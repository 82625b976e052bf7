//! NF4 (QLoRA, Dettmers et al. 2023; bitsandbytes `get_4bit_type("nf4")`): 16 levels from the
//! normal quantiles, max 1, ascending, code = index.

/// The bitsandbytes NF4 levels as f32, ascending (spec §4.2).
#[allow(clippy::excessive_precision)]
pub const NF4_VALUES: [f32; 16] = [
    -1.0_f32,
    -0.6961928009986877_f32,
    -0.5250730514526367_f32,
    -0.39491748809814453_f32,
    -0.28444138169288635_f32,
    -0.18477343022823334_f32,
    -0.09105003625154495_f32,
    0.0_f32,
    0.07958029955625534_f32,
    0.16093020141124725_f32,
    0.24611230194568634_f32,
    0.33791524171829224_f32,
    0.44070982933044434_f32,
    0.5626170039176941_f32,
    0.7229568362236023_f32,
    1.0_f32,
];
