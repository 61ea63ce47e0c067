/**
 * A tasks client written the way the Next.js frontend writes one: plain `fetch`, typed with
 * what openapi-typescript generates from the API's OpenAPI document into `schema.d.ts`.
 *
 * tests/test_openapi_client.py regenerates `schema.d.ts` from the running app's document and
 * runs `tsc --noEmit` on this folder, so an API change that breaks this client breaks the
 * test suite. The `@ts-expect-error` lines at the end must stay errors: they prove the
 * generated types are precise (not `any`).
 */
import type { components, paths } from "./schema";

// --- Types, all taken from the generated document -------------------------------------------

type TasksRoute = paths["/api/{user_id}/tasks"];
type TaskRoute = paths["/api/{user_id}/tasks/{task_id}"];
type CompleteRoute = paths["/api/{user_id}/tasks/{task_id}/complete"];

export type Task = components["schemas"]["TaskView"];
export type Priority = Task["priority"];
export type UserId = TasksRoute["get"]["parameters"]["path"]["user_id"];
export type TaskId = TaskRoute["patch"]["parameters"]["path"]["task_id"];

export type ListTasksQuery = NonNullable<TasksRoute["get"]["parameters"]["query"]>;
export type TaskPage = TasksRoute["get"]["responses"][200]["content"]["application/json"];

export type CreateTaskBody = TasksRoute["post"]["requestBody"]["content"]["application/json"];
export type CreatedTask = TasksRoute["post"]["responses"][201]["content"]["application/json"];

export type PatchTaskBody = TaskRoute["patch"]["requestBody"]["content"]["application/json"];
export type PatchedTask = TaskRoute["patch"]["responses"][200]["content"]["application/json"];

/** The body of `/complete` is optional: without one, the call toggles completion. */
export type SetCompletionBody = NonNullable<
  NonNullable<CompleteRoute["patch"]["requestBody"]>["content"]["application/json"]
>;

/** RFC 9457 problem details, as documented on a 422 from `POST /api/{user_id}/tasks`. */
export type Problem =
  TasksRoute["post"]["responses"][422]["content"]["application/problem+json"];
export type FieldError = NonNullable<Problem["errors"]>[number];

// --- The client ------------------------------------------------------------------------------

export class ApiError extends Error {
  constructor(readonly problem: Problem) {
    super(`${problem.status} ${problem.title}: ${problem.detail}`);
    this.name = "ApiError";
  }

  /** Messages per field, for showing next to form inputs. */
  fieldErrors(): Record<string, string[]> {
    const byField: Record<string, string[]> = {};
    for (const error of this.problem.errors ?? []) {
      (byField[error.field] ??= []).push(error.message);
    }
    return byField;
  }
}

export interface TasksClientOptions {
  /** e.g. process.env.NEXT_PUBLIC_API_URL */
  baseUrl: string;
  /** The Better Auth JWT, e.g. from `authClient.token()`. */
  getToken: () => Promise<string>;
  userId?: UserId;
}

function listQueryString(query: ListTasksQuery): string {
  const params = new URLSearchParams();
  if (query.status !== undefined) params.set("status", query.status);
  for (const priority of query.priority ?? []) params.append("priority", priority);
  for (const tag of query.tag ?? []) params.append("tag", tag);
  if (query.q) params.set("q", query.q);
  if (query.due_before) params.set("due_before", query.due_before);
  if (query.due_after) params.set("due_after", query.due_after);
  if (query.sort !== undefined) params.set("sort", query.sort);
  if (query.order) params.set("order", query.order);
  if (query.limit !== undefined) params.set("limit", String(query.limit));
  if (query.offset !== undefined) params.set("offset", String(query.offset));
  const text = params.toString();
  return text ? `?${text}` : "";
}

export function createTasksClient({ baseUrl, getToken, userId = "me" }: TasksClientOptions) {
  const tasksUrl = `${baseUrl.replace(/\/$/, "")}/api/${encodeURIComponent(userId)}/tasks`;

  async function send<T>(url: string, init: RequestInit = {}): Promise<T> {
    const headers = new Headers(init.headers);
    headers.set("Authorization", `Bearer ${await getToken()}`);
    headers.set("Accept", "application/json, application/problem+json");
    if (init.body !== undefined) headers.set("Content-Type", "application/json");
    const response = await fetch(url, { ...init, headers });
    if (!response.ok) {
      throw new ApiError((await response.json()) as Problem);
    }
    return (await response.json()) as T;
  }

  return {
    listTasks(query: ListTasksQuery = {}): Promise<TaskPage> {
      return send<TaskPage>(`${tasksUrl}${listQueryString(query)}`);
    },

    createTask(body: CreateTaskBody, idempotencyKey?: string): Promise<CreatedTask> {
      return send<CreatedTask>(tasksUrl, {
        method: "POST",
        body: JSON.stringify(body),
        headers: idempotencyKey ? { "Idempotency-Key": idempotencyKey } : {},
      });
    },

    patchTask(id: TaskId, body: PatchTaskBody, version?: Task["version"]): Promise<PatchedTask> {
      return send<PatchedTask>(`${tasksUrl}/${id}`, {
        method: "PATCH",
        body: JSON.stringify(body),
        headers: version === undefined ? {} : { "If-Match": `"${version}"` },
      });
    },

    setCompletion(id: TaskId, body: SetCompletionBody): Promise<Task> {
      return send<Task>(`${tasksUrl}/${id}/complete`, {
        method: "PATCH",
        body: JSON.stringify(body),
      });
    },
  };
}

export type TasksClient = ReturnType<typeof createTasksClient>;

// --- What a page does with it ----------------------------------------------------------------

export interface DashboardRow {
  id: number;
  title: string;
  badge: Priority;
  due: string | null;
  done: boolean;
}

export async function loadDashboard(api: TasksClient): Promise<{ rows: DashboardRow[]; total: number }> {
  const page = await api.listTasks({
    status: "pending",
    priority: ["high", "medium"],
    tag: ["work"],
    sort: "due_date",
    order: "asc",
    limit: 50,
  });
  const rows = page.items.map(
    (task: Task): DashboardRow => ({
      id: task.id,
      title: task.title,
      badge: task.priority,
      due: task.due_date,
      done: task.completed,
    }),
  );
  const total: number = page.total;
  return { rows, total };
}

export async function addTask(
  api: TasksClient,
  form: { title: string; urgent: boolean; tags: string[]; due?: Date },
): Promise<{ id: number; version: number } | { fieldErrors: Record<string, string[]> }> {
  const body: CreateTaskBody = {
    title: form.title,
    priority: form.urgent ? "high" : "medium",
    tags: form.tags,
    due_date: form.due ? form.due.toISOString() : null,
  };
  try {
    const task = await api.createTask(body, crypto.randomUUID());
    const id: number = task.id;
    const version: number = task.version;
    return { id, version };
  } catch (error) {
    if (error instanceof ApiError && error.problem.status === 422) {
      const fields: string[] = (error.problem.errors ?? []).map((e: FieldError) => e.field);
      console.warn(error.problem.detail, fields);
      return { fieldErrors: error.fieldErrors() };
    }
    throw error;
  }
}

export async function finishAndClearNotes(api: TasksClient, task: Task): Promise<Task> {
  const completed = await api.patchTask(task.id, { completed: true }, task.version);
  const completedAt: string | null = completed.completed_at;
  console.info(`completed at ${completedAt ?? "?"}`);
  const cleared = await api.patchTask(completed.id, { description: null }, completed.version);
  const description: string | null = cleared.description;
  console.info(`description is now ${description ?? "empty"}`);
  return api.setCompletion(cleared.id, { completed: false });
}

// --- Compile-time checks: each line below must be a type error --------------------------------

type IsAny<T> = 0 extends 1 & T ? true : false;
type Expect<T extends true> = T;
export type GeneratedTypesAreNotAny = [
  Expect<IsAny<Task> extends false ? true : false>,
  Expect<IsAny<Task["title"]> extends false ? true : false>,
  Expect<IsAny<CreateTaskBody> extends false ? true : false>,
  Expect<IsAny<PatchTaskBody> extends false ? true : false>,
  Expect<IsAny<ListTasksQuery> extends false ? true : false>,
  Expect<IsAny<TaskPage["items"]> extends false ? true : false>,
  Expect<IsAny<Problem> extends false ? true : false>,
];

/** Only a title is required to create a task; every other editable field has a default. */
export const minimalCreate: CreateTaskBody = { title: "Buy milk" };

/** `/complete` needs no body: without one it toggles. */
export const toggleWithoutBody: CompleteRoute["patch"]["requestBody"] = undefined;

export function mustNotCompile(task: Task, problem: Problem): void {
  // @ts-expect-error title is a string
  const numericTitle: CreateTaskBody = { title: 42 };
  // @ts-expect-error "urgent" is not a priority
  const urgent: CreateTaskBody = { title: "x", priority: "urgent" };
  // @ts-expect-error title is required on create
  const untitled: CreateTaskBody = { priority: "low" };
  // @ts-expect-error the server owns `version`; it is not part of the create body
  const withVersion: CreateTaskBody = { title: "x", version: 3 };
  // @ts-expect-error title is not nullable, so PATCH cannot clear it
  const clearTitle: PatchTaskBody = { title: null };
  // @ts-expect-error "done" is not a status filter
  const badStatus: ListTasksQuery = { status: "done" };
  // @ts-expect-error limit is a number
  const badLimit: ListTasksQuery = { limit: "10" };
  // @ts-expect-error "random" is not a sort key
  const badSort: ListTasksQuery = { sort: "random" };
  // @ts-expect-error a task has no `titel`
  const typo: string = task.titel;
  // @ts-expect-error description may be null
  const description: string = task.description;
  // @ts-expect-error the problem's status is a number
  const statusText: string = problem.status;
  // @ts-expect-error a field error names its field in `field`
  const fieldName: string = (problem.errors ?? [])[0]?.name ?? "";
  void [numericTitle, urgent, untitled, withVersion, clearTitle, badStatus, badLimit, badSort];
  void [typo, description, statusText, fieldName];
}
