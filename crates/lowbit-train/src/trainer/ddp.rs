//! Data parallelism over CUDA devices through Burn 0.22.1's own DDP machinery: one process, one
//! thread per device, each holding a replica whose parameters are marked distributed
//! (`Tensor::set_distributed`, as burn-train's `ModuleSharder` does). During `backward` Burn
//! submits every parameter gradient to its sync server as soon as that gradient is complete, and
//! the CUDA backend all-reduces it with NCCL while the rest of the backward pass runs.
//!
//! What lowbit supports, exactly:
//! * `train.devices = ["cuda:0", "cuda:1", …]` (two or more distinct CUDA devices, one node).
//!   Burn 0.22.1 has no multi-node rendezvous, and its `flex`/wgpu backends implement no
//!   collectives, so data parallelism is CUDA-only.
//! * The step's `grad_accum` micro-batches are dealt round-robin to the devices (micro-batch k
//!   to device k mod n), so `grad_accum` must be a multiple of the device count; the batch of a
//!   step is the same as on one device, hence the same data order and the same schedule.
//! * Gradients are summed (`ReduceOperation::Sum`) so the accumulated gradient equals the
//!   single-device sum over micro-batches; the loop then scales by 1/grad_accum as always.
//! * The optimizer steps once, on the replica of the first device; the other replicas are
//!   re-forked from it at the next step (simple and exact; parameter traffic is one copy of the
//!   model per device per step).
//! * Not bit-identical to a single-device run: NCCL's reduction order differs from the
//!   accumulator's.

use super::error::TrainError;
use super::lm::scalar;
use burn::module::{Module, ModuleMapper, Param};
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::tensor::distributed::{DistributedConfig, DistributedContext, ReduceOperation};
use burn::tensor::{Device, Tensor};

/// Keeps Burn's gradient-sync server alive for the run (it is torn down on drop).
pub(super) struct Parallel {
    devices: Vec<Device>,
    _context: DistributedContext,
}

/// Marks every float parameter distributed, keyed by its parameter id, so its gradient is
/// all-reduced during `backward`.
struct Sharder;

impl ModuleMapper for Sharder {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        Param::from_mapped_value(id, tensor.set_distributed(id), mapper)
    }
}

impl Parallel {
    /// Starts the sync server for `devices` (two or more), after checking that the step's
    /// micro-batches split evenly.
    pub(super) fn start(devices: Vec<Device>, micro_batches: usize) -> Result<Self, TrainError> {
        if micro_batches % devices.len() != 0 {
            return Err(TrainError::Unsupported {
                key: "train.grad_accum".into(),
                message: format!(
                    "{micro_batches} micro-batches cannot be split over {} devices; set \
                     grad_accum to a multiple of the device count",
                    devices.len()
                ),
            });
        }
        let context = DistributedContext::init(
            devices.clone(),
            DistributedConfig {
                all_reduce_op: ReduceOperation::Sum,
            },
        );
        Ok(Self {
            devices,
            _context: context,
        })
    }

    /// Forward + backward of one step's micro-batches on all devices (device `d` takes every
    /// `n`-th micro-batch, starting at `d`). Returns the summed gradients (on the first device,
    /// keyed like `model`'s parameters) and the sum of the micro-batch losses.
    pub(super) fn grads<M>(
        &self,
        model: &M,
        micros: &[u64],
        loss: &(dyn Fn(&M, u64, &Device) -> Result<Tensor<1>, TrainError> + Sync),
    ) -> Result<(GradientsParams, f64), TrainError>
    where
        M: Module + Clone + Send + Sync + 'static,
    {
        let n = self.devices.len();
        let results = std::thread::scope(|s| {
            let handles: Vec<_> = self
                .devices
                .iter()
                .enumerate()
                .map(|(d, dev)| {
                    let ad = dev.clone().autodiff();
                    let replica = model.clone().fork(&ad).map(&mut Sharder);
                    s.spawn(move || -> Result<(GradientsParams, f64), TrainError> {
                        let mut accum = GradientsAccumulator::<M>::new();
                        let mut loss_sum = 0.0;
                        for &k in micros.iter().skip(d).step_by(n) {
                            let loss = loss(&replica, k, &ad)?;
                            loss_sum += scalar(loss.clone())?;
                            let g = GradientsParams::from_grads(loss.backward(), &replica);
                            accum.accumulate(&replica, g);
                        }
                        Ok((accum.grads(), loss_sum))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(TrainError::Unsupported {
                            key: "train.devices".into(),
                            message: "a data-parallel worker thread panicked".into(),
                        })
                    })
                })
                .collect::<Vec<_>>()
        });
        let mut loss_sum = 0.0;
        let mut first = None;
        for r in results {
            let (g, l) = r?;
            loss_sum += l;
            first.get_or_insert(g);
        }
        let grads = first.ok_or_else(|| TrainError::Unsupported {
            key: "train.devices".into(),
            message: "no devices".into(),
        })?;
        Ok((grads, loss_sum))
    }
}
