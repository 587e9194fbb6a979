import { describe, expect, it } from 'vitest';
import { chineseScriptOf } from '../../src/lib/index.ts';

describe('telling Simplified from Traditional Chinese writers', () => {
  it('reads the script of a customer message', () => {
    expect(chineseScriptOf('您好，我的包裹到哪里了？订单号 10452，已经一周没有收到。')).toBe('zh-CN');
    expect(chineseScriptOf('您好，我的包裹到哪裡了？訂單號 10452，已經一週沒有收到。')).toBe('zh-TW');
  });

  it('says nothing when there is too little Chinese to tell', () => {
    expect(chineseScriptOf('Hello, where is my parcel? Order 10452.')).toBeNull();
    expect(chineseScriptOf('Thanks! 谢谢')).toBeNull();
    expect(
      chineseScriptOf(
        'I bought the ceramic tea set last week and would like to know when it ships; my name is 王小明',
      ),
    ).toBeNull();
  });

  it('calls it a tie, not a guess, when every character is shared by both scripts', () => {
    expect(chineseScriptOf('你好，我是大山')).toBeNull();
  });
});
