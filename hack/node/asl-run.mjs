// Runs an ASL definition under aws-local-stepfunctions, an interpreter independent of the
// embedded runner, with every Task state calling the real Go handlers over a loopback
// bridge (POST <bridge>/<Resource>; a failure answers 500 with the Lambda error document).
// A startExecution.sync:2 Task runs CHILD.json (the stack machine) the same way, as a child
// execution, and returns what AWS returns: the child's description with its output.
// Prints one JSON line: the top-level states entered, in order, and how the execution ended.
//
//   node asl-run.mjs DEFINITION.json INPUT_JSON EXECUTION_NAME BRIDGE_URL [CHILD.json]
//
// aws-local-stepfunctions 3.0.0 declares Node >= 22 for Promise.withResolvers, which Node 20
// lacks; the polyfill below is all it needs of Node 22.
import { readFileSync } from "node:fs";

if (!Promise.withResolvers) {
  Promise.withResolvers = function () {
    let resolve, reject;
    const promise = new Promise((res, rej) => { resolve = res; reject = rej; });
    return { promise, resolve, reject };
  };
}
const { StateMachine } = await import("aws-local-stepfunctions");

const [defPath, input, name, bridge, childPath] = process.argv.slice(2);
const machineId = "arn:aws:states:local:000000000000:stateMachine:aos-stack";

async function callBridge(resource, payload) {
  const resp = await fetch(bridge + "/" + encodeURIComponent(resource), { method: "POST", body: JSON.stringify(payload) });
  const text = await resp.text();
  if (resp.ok) return text === "" ? null : JSON.parse(text);
  const doc = JSON.parse(text);
  const err = new Error(doc.errorMessage);
  err.name = doc.errorType;
  err.cause = text; // AWS: a Lambda error's cause is its error document
  throw err;
}

// startExecution.sync:2: the child runs to its end; its description is the result, and a
// failed child fails the task with States.TaskFailed, the description as the cause.
async function startSync(payload) {
  const child = JSON.parse(readFileSync(childPath, "utf8"));
  const childName = payload.Input.stack + "-" + payload.Input.operation;
  const desc = { ExecutionArn: "arn:aws:states:local:000000000000:execution:aos-stack:" + childName, Name: childName, StateMachineArn: payload.StateMachineArn, Input: payload.Input };
  try {
    const { result } = await run(child, payload.Input, childName);
    return { ...desc, Status: "SUCCEEDED", Output: result };
  } catch (e) {
    const err = new Error("child execution failed");
    err.name = "States.TaskFailed";
    err.cause = JSON.stringify({ ...desc, Status: "FAILED", Error: e.cause?.name ?? e.name, Cause: String(e.cause?.message ?? e.message) });
    throw err;
  }
}

// run executes a definition and returns the top-level states entered and its result.
async function run(definition, input, executionName) {
  const handlers = {};
  (function collect(states) {
    for (const [stateName, st] of Object.entries(states)) {
      if (st.Type === "Task") {
        // A placeholder (${PlanFunctionArn}, which infra/ substitutes) becomes a Lambda ARN,
        // which the interpreter's schema demands; the bridge gets the Resource as written.
        const resource = st.Resource;
        const placeholder = /^\$\{(\w+)\}$/.exec(resource);
        if (placeholder) st.Resource = "arn:aws:lambda:us-east-1:000000000000:function:" + placeholder[1];
        handlers[stateName] = resource === "arn:aws:states:::states:startExecution.sync:2" ? startSync : (p) => callBridge(resource, p);
      }
      const sub = st.ItemProcessor ?? st.Iterator;
      if (sub) collect(sub.States);
      for (const b of st.Branches ?? []) collect(b.States);
    }
  })(definition.States);
  const top = new Set(Object.keys(definition.States));
  const machine = new StateMachine(definition, { validationOptions: { checkArn: false } });
  const execution = machine.run(input, {
    overrides: { taskResourceLocalHandlers: handlers },
    context: { Execution: { Name: executionName }, StateMachine: { Id: machineId } },
  });
  const states = [];
  const logs = (async () => {
    for await (const ev of execution.eventLogs) {
      if (ev.type === "StateEntered" && ev.index === undefined && top.has(ev.state.name)) states.push(ev.state.name);
    }
  })();
  try {
    const result = await execution.result;
    await Promise.race([logs, new Promise((r) => setTimeout(r, 1000))]);
    return { states, result };
  } catch (e) {
    await Promise.race([logs, new Promise((r) => setTimeout(r, 1000))]);
    e.states = states;
    throw e;
  }
}

let out;
try {
  const { states, result } = await run(JSON.parse(readFileSync(defPath, "utf8")), JSON.parse(input), name);
  out = { states, status: "SUCCEEDED", output: result };
} catch (e) {
  out = { states: e.states ?? [], status: "FAILED", error: e.cause?.name ?? e.name, cause: String(e.cause?.message ?? e.message) };
}
console.log(JSON.stringify(out));
