//! Collective operations (`DistributedOperationIr`): declared for the table, never evaluated (a
//! captured single-process model has none).

use burn_ir::DistributedOperationIr;
use burn_ir::DistributedOperationIr::*;

use super::OpClass::*;
use super::op;

op_family!(DistributedOperationIr {
    AllReduce(..) => op("all_reduce", Other);
    SyncCollective => op("sync_collective", Other);
});
