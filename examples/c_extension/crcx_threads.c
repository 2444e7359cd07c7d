/*
 * A Python extension in plain C that filters images with crcx's C API from its own
 * POSIX threads, one image per thread, all at once (docs/embedding.md).
 *
 * filter_in_threads(jobs, size) takes a list of (image, median_out, crc_out): 2-d
 * uint8 buffers of one shape per job (any strides). Each thread writes the 5x5
 * (size x size) median and CRC-MF at its defaults; the call returns each job's
 * (median status, CRC-MF status, message).
 * median_frames(frames, outputs, size, hold_gil) makes one plan of the size x size
 * median for the frames' shape (2-d uint8 buffers of one shape) and runs it from
 * four threads at once, each on every fourth frame; it returns each frame's
 * (status, message). A plan runs without Python: with hold_gil true, the calling
 * thread keeps the GIL while the threads run, which a call into Python would wait
 * for forever.
 * bad_window() calls the median with a window of side 0 and returns (status,
 * message), and bad_frame() runs a plan on a frame of another shape: the error paths.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <string.h>

#include "crcx/crcx.h"

#define MAX_JOBS 64
#define FRAME_THREADS 4

typedef struct {
    crcx_array image, median, crc;
    crcx_window window;
    int median_status, crc_status;
    char message[256];
} job;

static void *run_job(void *argument)
{
    job *work = (job *)argument;
    work->median_status = crcx_median(&work->image, &work->median, &work->window,
                                      work->message, sizeof work->message);
    work->crc_status = crcx_crc_median(&work->image, &work->crc, NULL,
                                       work->message, sizeof work->message);
    return NULL;
}

/* A uint8 2-d buffer of `object` as a crcx_array; 0, or -1 with an exception set. */
static int as_array(PyObject *object, int writable, Py_buffer *view, crcx_array *array)
{
    int flags = PyBUF_STRIDES | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(object, view, flags) < 0)
        return -1;
    if (view->ndim != 2 || view->itemsize != 1 || strcmp(view->format, "B") != 0) {
        PyErr_SetString(PyExc_ValueError, "expected 2-d uint8 buffers");
        PyBuffer_Release(view);
        return -1;
    }
    array->data = view->buf;
    array->dtype = CRCX_UINT8;
    array->ndim = 2;
    for (int axis = 0; axis < 2; axis++) {
        array->shape[axis] = view->shape[axis];
        array->strides[axis] = view->strides[axis];
    }
    return 0;
}

static PyObject *filter_in_threads(PyObject *self, PyObject *args)
{
    PyObject *jobs_list, *result = NULL;
    Py_ssize_t size, count, i, held = 0;
    job jobs[MAX_JOBS];
    Py_buffer views[3 * MAX_JOBS];
    pthread_t threads[MAX_JOBS];
    int started = 0;

    if (!PyArg_ParseTuple(args, "O!n", &PyList_Type, &jobs_list, &size))
        return NULL;
    count = PyList_GET_SIZE(jobs_list);
    if (count > MAX_JOBS)
        return PyErr_Format(PyExc_ValueError, "at most %d jobs", MAX_JOBS);
    memset(jobs, 0, sizeof jobs);
    for (i = 0; i < count; i++) {
        PyObject *image, *median, *crc;
        if (!PyArg_ParseTuple(PyList_GET_ITEM(jobs_list, i), "OOO", &image, &median, &crc))
            goto done;
        if (as_array(image, 0, &views[held], &jobs[i].image) < 0)
            goto done;
        held++;
        if (as_array(median, 1, &views[held], &jobs[i].median) < 0)
            goto done;
        held++;
        if (as_array(crc, 1, &views[held], &jobs[i].crc) < 0)
            goto done;
        held++;
        jobs[i].window.size[0] = jobs[i].window.size[1] = size;
        jobs[i].window.mode = CRCX_REFLECT;
    }
    /* The threads call crcx without the GIL held by anyone here. */
    Py_BEGIN_ALLOW_THREADS
    for (i = 0; i < count; i++)
        if (pthread_create(&threads[i], NULL, run_job, &jobs[i]) == 0)
            started++;
    for (i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    Py_END_ALLOW_THREADS
    if (started < count) {
        PyErr_SetString(PyExc_OSError, "could not start the threads");
        goto done;
    }
    result = PyList_New(count);
    for (i = 0; result != NULL && i < count; i++)
        PyList_SET_ITEM(result, i, Py_BuildValue("iis", jobs[i].median_status,
                                                 jobs[i].crc_status, jobs[i].message));
done:
    while (held > 0)
        PyBuffer_Release(&views[--held]);
    return result;
}

typedef struct {
    const crcx_plan *plan;
    crcx_array *frames, *outputs;
    int *status;
    char (*messages)[256];
    Py_ssize_t first, count;
} frame_share;

static void *run_frames(void *argument)
{
    frame_share *share = (frame_share *)argument;
    for (Py_ssize_t i = share->first; i < share->count; i += FRAME_THREADS)
        share->status[i] = crcx_execute(share->plan, &share->frames[i], &share->outputs[i],
                                        share->messages[i], sizeof share->messages[i]);
    return NULL;
}

static PyObject *median_frames(PyObject *self, PyObject *args)
{
    PyObject *frames_list, *outputs_list, *result = NULL;
    Py_ssize_t size, count, i, held = 0;
    int hold_gil, started = 0, status;
    crcx_array frames[MAX_JOBS], outputs[MAX_JOBS];
    int statuses[MAX_JOBS];
    char messages[MAX_JOBS][256];
    Py_buffer views[2 * MAX_JOBS];
    pthread_t threads[FRAME_THREADS];
    frame_share shares[FRAME_THREADS];
    crcx_window window;
    crcx_plan *plan = NULL;
    PyThreadState *saved;
    char message[256] = "";

    if (!PyArg_ParseTuple(args, "O!O!np", &PyList_Type, &frames_list, &PyList_Type,
                          &outputs_list, &size, &hold_gil))
        return NULL;
    count = PyList_GET_SIZE(frames_list);
    if (count < 1 || count > MAX_JOBS || PyList_GET_SIZE(outputs_list) != count)
        return PyErr_Format(PyExc_ValueError, "1 to %d frames, as many outputs", MAX_JOBS);
    for (i = 0; i < count; i++) {
        if (as_array(PyList_GET_ITEM(frames_list, i), 0, &views[held], &frames[i]) < 0)
            goto done;
        held++;
        if (as_array(PyList_GET_ITEM(outputs_list, i), 1, &views[held], &outputs[i]) < 0)
            goto done;
        held++;
        memset(messages[i], 0, sizeof messages[i]);
    }
    memset(&window, 0, sizeof window);
    window.size[0] = window.size[1] = size;
    window.mode = CRCX_REFLECT;
    window.n_threads = 1;    /* the four threads share the cores */
    status = crcx_plan_median(&frames[0], &window, &plan, message, sizeof message);
    if (status != CRCX_OK) {
        PyErr_Format(PyExc_ValueError, "crcx_plan_median: %s", message);
        goto done;
    }
    saved = hold_gil ? NULL : PyEval_SaveThread();
    for (i = 0; i < FRAME_THREADS; i++) {
        shares[i] = (frame_share){plan, frames, outputs, statuses, messages, i, count};
        if (pthread_create(&threads[i], NULL, run_frames, &shares[i]) == 0)
            started++;
    }
    for (i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    if (saved != NULL)
        PyEval_RestoreThread(saved);
    crcx_destroy_plan(plan);
    if (started < FRAME_THREADS) {
        PyErr_SetString(PyExc_OSError, "could not start the threads");
        goto done;
    }
    result = PyList_New(count);
    for (i = 0; result != NULL && i < count; i++)
        PyList_SET_ITEM(result, i, Py_BuildValue("is", statuses[i], messages[i]));
done:
    while (held > 0)
        PyBuffer_Release(&views[--held]);
    return result;
}

static PyObject *bad_frame(PyObject *self, PyObject *unused)
{
    unsigned char pixels[20] = {0}, out[20];
    crcx_array like = {NULL, CRCX_UINT8, 2, {4, 4}, {0, 0}};
    crcx_array frame = {pixels, CRCX_UINT8, 2, {4, 5}, {5, 1}};
    crcx_array output = {out, CRCX_UINT8, 2, {4, 5}, {5, 1}};
    crcx_window window = {{3, 3}, NULL, CRCX_REFLECT, 0.0, {0, 0}, 0};
    crcx_plan *plan;
    char message[256] = "";
    int status = crcx_plan_median(&like, &window, &plan, message, sizeof message);
    if (status == CRCX_OK) {
        status = crcx_execute(plan, &frame, &output, message, sizeof message);
        crcx_destroy_plan(plan);
    }
    return Py_BuildValue("is", status, message);
}

static PyObject *bad_window(PyObject *self, PyObject *unused)
{
    unsigned char pixels[16] = {0}, out[16];
    crcx_array image = {pixels, CRCX_UINT8, 2, {4, 4}, {4, 1}};
    crcx_array output = {out, CRCX_UINT8, 2, {4, 4}, {4, 1}};
    crcx_window window;
    char message[256] = "";
    int status;
    memset(&window, 0, sizeof window);   /* sides of 0: not a window */
    Py_BEGIN_ALLOW_THREADS
    status = crcx_median(&image, &output, &window, message, sizeof message);
    Py_END_ALLOW_THREADS
    return Py_BuildValue("is", status, message);
}

static PyMethodDef methods[] = {
    {"filter_in_threads", filter_in_threads, METH_VARARGS,
     "Median and CRC-MF of each (image, median_out, crc_out), one thread each."},
    {"median_frames", median_frames, METH_VARARGS,
     "One median plan run on all frames from four threads at once."},
    {"bad_window", bad_window, METH_NOARGS, "The median's error on a window of side 0."},
    {"bad_frame", bad_frame, METH_NOARGS, "A plan's error on a frame of another shape."},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "crcx_threads", NULL, -1, methods};

PyMODINIT_FUNC PyInit_crcx_threads(void)
{
    if (crcx_import() < 0)
        return NULL;
    return PyModule_Create(&module);
}
