//! The shared `logreg_influence` fixture as an [`Objective`]: an L2 logistic regression with its
//! numpy optimum, exact influence and exactly retrained leave-one-out test-loss changes.

use burn::module::Param;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor, TensorData};
use serde_json::Value;
use xai_core::{Result, XaiError};
use xai_grad::{CapturedGraph, Precision};

use crate::objective::{Data, Loss, Objective, dtype};

/// The fixture, loaded.
pub struct LogregFixture {
    /// The training objective at the fixture's optimum (bias not penalised).
    pub objective: Objective,
    /// Test points.
    pub test: Data,
    /// `expected.influence_up_loss.values`, `[T][n]`.
    pub up_loss: Vec<Vec<f64>>,
    /// `expected.loo_test_loss_change.values`, `[T][n]`.
    pub loo: Vec<Vec<f64>>,
}

fn bad(m: &str) -> XaiError {
    XaiError::Parse {
        file: "logreg_influence.json".into(),
        message: m.into(),
    }
}

fn matrix_of(v: &Value, key: &str) -> Result<Vec<Vec<f64>>> {
    v.get(key)
        .and_then(Value::as_array)
        .ok_or_else(|| bad(&format!("missing {key}")))?
        .iter()
        .map(|r| match r {
            Value::Array(a) => a
                .iter()
                .map(|x| x.as_f64().ok_or_else(|| bad(key)))
                .collect(),
            Value::Number(n) => n.as_f64().map(|x| vec![x]).ok_or_else(|| bad(key)),
            _ => Err(bad(key)),
        })
        .collect()
}

fn labels(v: &Value, key: &str) -> Result<Vec<usize>> {
    Ok(matrix_of(v, key)?
        .into_iter()
        .map(|r| r[0] as usize)
        .collect())
}

/// True when `raw` looks like the logistic-regression influence fixture.
pub fn is_logreg_fixture(raw: &Value) -> bool {
    raw.get("train_x").is_some() && raw.get("optimum_w_then_b").is_some()
}

/// Build the fixture's model, objective and references.
pub fn load_logreg_fixture(
    raw: &Value,
    device: &Device,
    precision: Precision,
) -> Result<LogregFixture> {
    let train_x = matrix_of(raw, "train_x")?;
    let test_x = matrix_of(raw, "test_x")?;
    let d = train_x.first().map_or(0, Vec::len);
    let w = matrix_of(raw, "optimum_w_then_b")?
        .into_iter()
        .map(|r| r[0])
        .collect::<Vec<_>>();
    if w.len() != d + 1 {
        return Err(bad("optimum_w_then_b must hold d weights then the bias"));
    }
    let lambda = raw
        .get("lambda")
        .and_then(Value::as_f64)
        .ok_or_else(|| bad("missing lambda"))?;
    let dt = dtype(precision);
    let mut model: Linear = LinearConfig::new(d, 1).init(device);
    model.weight = Param::from_tensor(Tensor::from_data(
        TensorData::new(w[..d].to_vec(), [d, 1]),
        (device, dt),
    ));
    model.bias = Some(Param::from_tensor(Tensor::from_data(
        TensorData::new(vec![w[d]], [1]),
        (device, dt),
    )));
    let flat = |rows: &[Vec<f64>]| rows.iter().flatten().copied().collect::<Vec<f64>>();
    let train = Data::from_rows(
        &flat(&train_x),
        d,
        labels(raw, "train_y")?,
        device,
        precision,
    )?;
    let test = Data::from_rows(&flat(&test_x), d, labels(raw, "test_y")?, device, precision)?;
    let graph = CapturedGraph::capture(&model, train.x.clone().into_tensor::<2>()?, |m, x| {
        m.forward(x)
    })?;
    let objective = Objective::new(
        graph,
        train,
        Loss::BinaryLogistic,
        lambda,
        device,
        precision,
    )?;
    let expected = raw.get("expected").ok_or_else(|| bad("missing expected"))?;
    let values = |k: &str| -> Result<Vec<Vec<f64>>> {
        matrix_of(
            expected
                .get(k)
                .ok_or_else(|| bad(&format!("missing expected.{k}")))?,
            "values",
        )
    };
    Ok(LogregFixture {
        objective,
        test,
        up_loss: values("influence_up_loss")?,
        loo: values("loo_test_loss_change")?,
    })
}
